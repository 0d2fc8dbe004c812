package dev.livemig.source.grpc;

import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.ProgressListener;
import dev.livemig.migration.MigrationControl.StateChange;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.stats.DowntimeProbe;
import dev.livemig.migration.transport.PageTransfer.SyncRequest;
import io.grpc.ManagedChannel;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * downtime_probe_ms across two node processes: a {@link DowntimeProbe} on the source node
 * that asks its own guest first and, while that does not answer, the target node with a
 * Sync call on a connection of its own (a client pinging the VM does not queue behind the
 * migration's pages). Both answers are timed on this process's clock, so the gap from the
 * last answer on the source to the first on the target needs no clock agreement between
 * the nodes.
 *
 * <p>Runs from before the migration starts until its final state; after a completed
 * migration it waits (up to {@link #TARGET_ANSWER_WAIT_MS}) for the guest's first answer
 * on the target, which ends the gap, before it stops.
 */
final class NodeDowntimeProbe implements ProgressListener {
    /**
     * The gap's resolution. While the source is paused every poll is a call to the target,
     * so this also sets how hard the probe competes with the switchover for the CPU.
     */
    private static final long POLL_INTERVAL_NANOS = 5_000_000;
    private static final long TARGET_ANSWER_WAIT_MS = 5_000;
    private static final int TARGET = 1;

    private final DowntimeProbe probe;
    private final ManagedChannel channel;

    NodeDowntimeProbe(String migrationId, Guest source, ManagedChannel targetChannel) {
        this.channel = targetChannel;
        GrpcPageChannel target = new GrpcPageChannel(targetChannel);
        this.probe = new DowntimeProbe(List.of(source::probe,
                () -> target.sync(new SyncRequest(migrationId, 0, false)).guestAnswered()),
                System::nanoTime, POLL_INTERVAL_NANOS);
    }

    DowntimeProbe start() {
        return probe.start();
    }

    @Override
    public void onStateChange(StateChange c) {
        if (!c.toState().isFinal()) {
            return;
        }
        boolean awaitTarget = c.toState() == MigrationState.COMPLETED;
        Thread t = new Thread(() -> {
            long deadline = System.currentTimeMillis() + TARGET_ANSWER_WAIT_MS;
            while (awaitTarget && probe.answers(TARGET) == 0 && System.currentTimeMillis() < deadline) {
                try {
                    TimeUnit.MILLISECONDS.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            probe.close();
            channel.shutdown();
        }, "downtime-probe-close");
        t.setDaemon(true);
        t.start();
    }
}
