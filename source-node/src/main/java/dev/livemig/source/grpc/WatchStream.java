package dev.livemig.source.grpc;

import dev.livemig.migration.MigrationControl;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.MigrationStats;
import dev.livemig.migration.MigrationControl.ProgressListener;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.proto.v1.ProgressEvent;
import dev.livemig.proto.v1.TransferProgress;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One Watch call: the migration's round records and state changes as they happen (after
 * its history, if asked), periodic transfer progress, and the end of the stream after the
 * final state. The engine's listener only queues; this pump, on its own thread, writes to
 * the stream, so a slow client never holds up the migration thread.
 */
final class WatchStream implements ProgressListener, Runnable {
    private static final long IDLE_POLL_MS = 200;

    private final OutgoingMigration m;
    private final ServerCallStreamObserver<ProgressEvent> out;
    private final boolean includeHistory;
    private final long progressIntervalMs;
    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private volatile boolean cancelled;

    WatchStream(OutgoingMigration m, ServerCallStreamObserver<ProgressEvent> out, boolean includeHistory,
                long progressIntervalMs) {
        this.m = m;
        this.out = out;
        this.includeHistory = includeHistory;
        this.progressIntervalMs = progressIntervalMs;
        out.setOnCancelHandler(() -> cancelled = true);
        // registered before the history is read, so that nothing falls between the two
        m.addListener(this);
    }

    @Override
    public void onRound(MigrationControl.RoundRecord round) {
        queue.add(round);
    }

    @Override
    public void onStateChange(MigrationControl.StateChange change) {
        queue.add(change);
    }

    @Override
    public void run() {
        try {
            pump();
        } catch (RuntimeException e) {
            if (!cancelled) {
                out.onError(e);
            }
        } finally {
            m.removeListener(this);
        }
    }

    private void pump() {
        // events already in the history also reach the queue if they happened after addListener
        Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Object> history = new ArrayList<>(m.rounds());
        List<MigrationControl.StateChange> changes = m.info().stateChanges();
        history.addAll(changes);
        seen.addAll(history);
        if (includeHistory) {
            history.sort(Comparator.comparingLong(WatchStream::atMs));
            for (Object e : history) {
                send(e);
            }
        }
        boolean ended = !changes.isEmpty() && changes.get(changes.size() - 1).toState().isFinal();
        if (ended) {
            if (!includeHistory && !changes.isEmpty()) {
                send(changes.get(changes.size() - 1));
            }
            out.onCompleted();
            return;
        }
        long nextProgress = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(progressIntervalMs);
        while (!cancelled) {
            long waitMs = progressIntervalMs == 0 ? IDLE_POLL_MS
                    : Math.max(0, TimeUnit.NANOSECONDS.toMillis(nextProgress - System.nanoTime()));
            Object e;
            try {
                e = queue.poll(waitMs, TimeUnit.MILLISECONDS);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                return;
            }
            if (e != null && !seen.contains(e)) {
                send(e);
                if (e instanceof MigrationControl.StateChange c && c.toState().isFinal()) {
                    out.onCompleted();
                    return;
                }
            }
            if (progressIntervalMs > 0 && System.nanoTime() >= nextProgress) {
                sendProgress();
                nextProgress = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(progressIntervalMs);
            }
        }
    }

    private static long atMs(Object e) {
        return e instanceof MigrationControl.RoundRecord r ? r.startMs() + r.durationMs()
                : ((MigrationControl.StateChange) e).atMs();
    }

    private void send(Object e) {
        ProgressEvent.Builder b = ProgressEvent.newBuilder().setMigrationId(m.id()).setAtMs(atMs(e));
        if (e instanceof MigrationControl.RoundRecord r) {
            b.setRound(MigrationControlCodec.round(r));
        } else {
            b.setStateChange(MigrationControlCodec.stateChange((MigrationControl.StateChange) e));
        }
        out.onNext(b.build());
    }

    /** The engine's snapshot of where the migration stands, round in flight included. */
    private void sendProgress() {
        MigrationStats s = m.stats();
        TransferProgress p = MigrationControlCodec.progress(m.progress());
        out.onNext(ProgressEvent.newBuilder().setMigrationId(m.id()).setAtMs(s.totalMs()).setProgress(p).build());
    }
}
