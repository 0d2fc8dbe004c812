package dev.livemig.migration.source;

import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.ProgressListener;
import dev.livemig.migration.MigrationControl.RoundRecord;
import dev.livemig.migration.MigrationControl.StateChange;
import dev.livemig.migration.MigrationControl.TransferProgress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;

/**
 * What an {@link OutgoingMigration} tells the world: its state, the round records and
 * state changes it has published, its watchers (each optionally with a progress sample
 * every few milliseconds, QEMU's query-migrate polled for it) and those waiting for the
 * final state.
 *
 * <p>Kept apart from the migration's driving logic so that the state machine reads as
 * the steps of a migration, and so that everything a watcher sees goes through one place:
 * a record or change is stored before any listener hears of it, so GetInfo never misses
 * what Watch has shown. Listeners are called on the migration's thread, in order.
 */
final class MigrationEvents {
    private final String id;
    private final long startNanos;
    private final Supplier<TransferProgress> progress;
    private final List<ProgressListener> listeners = new CopyOnWriteArrayList<>();
    private final List<RoundRecord> rounds = new CopyOnWriteArrayList<>();
    private final List<StateChange> changes = new CopyOnWriteArrayList<>();
    private volatile MigrationState state = MigrationState.SETUP;
    private ProgressTicker ticker;

    MigrationEvents(String id, long startNanos, Supplier<TransferProgress> progress) {
        this.id = id;
        this.startNanos = startNanos;
        this.progress = progress;
    }

    void addListener(ProgressListener l) {
        listeners.add(l);
    }

    /** A listener that also gets a progress sample every {@code progressIntervalMs} (0: never) until the end. */
    void addListener(ProgressListener l, long progressIntervalMs) {
        if (progressIntervalMs < 0) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: progress_interval_ms < 0");
        }
        listeners.add(l);
        if (progressIntervalMs > 0) {
            progressTicker().add(l, progressIntervalMs);
            if (state.isFinal()) {
                progressTicker().stop(); // ended before the ticker existed: the last sample now
            }
        }
    }

    void removeListener(ProgressListener l) {
        listeners.remove(l);
        ProgressTicker t;
        synchronized (this) {
            t = ticker;
        }
        if (t != null) {
            t.remove(l);
        }
    }

    private synchronized ProgressTicker progressTicker() {
        if (ticker == null) {
            ticker = new ProgressTicker(progress::get, "progress-" + id);
        }
        return ticker;
    }

    MigrationState state() {
        return state;
    }

    /** Enters {@code to}, tells every listener why, and on a final state ends the progress samples. */
    void transition(MigrationState to, String reason) {
        MigrationState from = state;
        StateChange c = new StateChange(from, to, elapsedMs(), reason);
        state = to;
        changes.add(c);
        for (ProgressListener l : listeners) {
            l.onStateChange(c);
        }
        ProgressTicker t;
        synchronized (this) {
            t = to.isFinal() ? ticker : null;
            notifyAll();
        }
        if (t != null) {
            t.stop();
        }
    }

    /** A change within the current state (post-copy paused, recovered), told like a state change. */
    void note(String reason) {
        StateChange c = new StateChange(state, state, elapsedMs(), reason);
        changes.add(c);
        for (ProgressListener l : listeners) {
            l.onStateChange(c);
        }
    }

    void publish(RoundRecord r) {
        rounds.add(r);
        for (ProgressListener l : listeners) {
            l.onRound(r);
        }
    }

    long elapsedMs() {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    /** livemig.v1 total_ms: "from StartMigration to COMPLETED", so it stops at the final state change. */
    long totalMs() {
        StateChange last = changes.isEmpty() ? null : changes.get(changes.size() - 1);
        return last != null && last.toState().isFinal() ? last.atMs() : elapsedMs();
    }

    /** Waits until COMPLETED, FAILED or CANCELLED (or the timeout); returns the state. */
    synchronized MigrationState awaitFinal(long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (!state.isFinal()) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                break;
            }
            wait(Math.min(left, 50));
        }
        return state;
    }

    List<RoundRecord> rounds() {
        return new ArrayList<>(rounds);
    }

    int roundCount() {
        return rounds.size();
    }

    List<StateChange> changes() {
        return new ArrayList<>(changes);
    }
}
