package dev.livemig.migration.source;

import dev.livemig.migration.MigrationControl.ProgressListener;
import dev.livemig.migration.MigrationControl.TransferProgress;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The TransferProgress samples of a migration's watchers: one daemon thread per migration
 * samples {@link OutgoingMigration#progress()} at each watcher's own interval, off the
 * migration thread, so a slow watcher never slows a round down (and a round never holds
 * a sample back: the counters it reads are published as the pages go out).
 */
final class ProgressTicker {
    private final Supplier<TransferProgress> sample;
    private final ScheduledExecutorService timer;
    private final Map<ProgressListener, ScheduledFuture<?>> tasks = new IdentityHashMap<>();
    private boolean stopped;

    ProgressTicker(Supplier<TransferProgress> sample, String name) {
        this.sample = sample;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    synchronized void add(ProgressListener l, long intervalMs) {
        if (stopped) {
            deliver(l);
            return;
        }
        tasks.put(l, timer.scheduleAtFixedRate(() -> deliver(l), intervalMs, intervalMs, TimeUnit.MILLISECONDS));
    }

    synchronized void remove(ProgressListener l) {
        ScheduledFuture<?> f = tasks.remove(l);
        if (f != null) {
            f.cancel(false);
        }
    }

    private void deliver(ProgressListener l) {
        try {
            l.onProgress(sample.get());
        } catch (RuntimeException e) {
            // a watcher that went away (its stream was cancelled) must not stop the others
        }
    }

    /** The migration ended: one last sample (showing the final state) to each watcher, then no more. */
    synchronized void stop() {
        if (stopped) {
            return;
        }
        stopped = true;
        timer.shutdownNow();
        for (ProgressListener l : tasks.keySet()) {
            deliver(l);
        }
        tasks.clear();
    }
}
