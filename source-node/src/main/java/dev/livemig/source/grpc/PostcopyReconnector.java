package dev.livemig.source.grpc;

import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.ProgressListener;
import dev.livemig.migration.MigrationControl.StateChange;
import dev.livemig.migration.source.OutgoingMigration;
import io.grpc.ManagedChannel;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;

/**
 * The source node's half of post-copy recovery (QEMU's migrate-recover, done by the node
 * instead of an operator): when the migration reports that post-copy paused (its streams
 * broke; the guest runs on the target, whose faulting vCPUs wait), this dials the target's
 * address again for the page stream, has the migration's {@link PostcopyConnection} give
 * the priority stream a connection of its own again (as at the start), and calls
 * {@link OutgoingMigration#recoverPostcopy},
 * retrying with backoff (100 ms, doubling to 2 s) for as long as the migration stays in
 * POSTCOPY_ACTIVE: the guest cannot come back, so there is nothing else to do but reach
 * the target. The channels it dialed are shut down when the migration ends.
 */
final class PostcopyReconnector implements ProgressListener {
    private static final long MAX_BACKOFF_MS = 2_000;

    private final OutgoingMigration migration;
    private final Supplier<ManagedChannel> dial;
    private final PostcopyConnection preempt;
    private final List<ManagedChannel> dialed = new CopyOnWriteArrayList<>();
    private Thread thread;
    private volatile boolean stopped;

    PostcopyReconnector(OutgoingMigration migration, Supplier<ManagedChannel> dial, PostcopyConnection preempt) {
        this.migration = migration;
        this.dial = dial;
        this.preempt = preempt;
    }

    @Override
    public void onStateChange(StateChange c) {
        if (c.toState().isFinal()) {
            for (ManagedChannel ch : dialed) {
                ch.shutdown();
            }
            preempt.shutdown();
            return;
        }
        if (c.toState() == MigrationState.POSTCOPY_ACTIVE && c.reason().startsWith("paused:")) {
            start();
        }
    }

    /** The node is closing: no more attempts. */
    synchronized void stop() {
        stopped = true;
        if (thread != null) {
            thread.interrupt();
        }
    }

    private synchronized void start() {
        if (stopped || (thread != null && thread.isAlive())) {
            return;
        }
        thread = new Thread(this::reconnect, "postcopy-reconnect-" + migration.id());
        thread.setDaemon(true);
        thread.start();
    }

    private void reconnect() {
        long backoff = 100;
        while (!stopped && migration.state() == MigrationState.POSTCOPY_ACTIVE && migration.postcopyPaused()) {
            ManagedChannel ch = dial.get();
            try {
                // the new priority stream gets a connection of its own again, as at the start
                // (QEMU's preempt channel), so that answers do not queue behind the resent
                // pages: the migration's PostcopyConnection dials it (and ends the broken one)
                migration.recoverPostcopy(new GrpcPageChannel(ch, preempt, java.util.List.of(ch), ch::shutdown));
                dialed.add(ch);
                if (migration.state().isFinal()) {
                    ch.shutdown(); // ended while this was reattaching
                    preempt.shutdown();
                }
                return;
            } catch (RuntimeException e) {
                ch.shutdownNow(); // the target is still unreachable
            }
            try {
                Thread.sleep(backoff);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
        }
    }
}
