package dev.livemig.migration.stats;

import dev.livemig.migration.guest.Guest;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Downtime as a client of the guest sees it (the third view of downtime_ms, next to
 * the source's and the target's): a probe that keeps asking the guest for a tiny
 * operation and records the longest time between two answers, like a ping run against
 * a VM while it migrates.
 *
 * <p>Each endpoint asks one place the guest may run (the source node, then the target
 * node) and says whether the guest answered there; a poll tries them in order and stops
 * at the first answer. In one JVM the endpoints are {@link Guest#probe()} of the source
 * guest and of the target's incoming guest; across processes the source node probes its
 * own guest and asks the target node with a Sync call. Every gap is measured on the
 * prober's one clock, so no clock skew between the nodes enters it. The gap includes the
 * one under way until {@link #close}, so a guest that stopped answering shows as downtime
 * before it comes back.
 */
public final class DowntimeProbe implements AutoCloseable {
    private static final long POLL_INTERVAL_NANOS = 100_000;

    private final List<BooleanSupplier> endpoints;
    private final long pollIntervalNanos;
    private final LongSupplier clockNanos;
    private final AtomicLongArray answers;
    private final Object lock = new Object();
    private long lastAnswerNanos = -1;
    private long longestGapNanos;
    /** When it was closed (-1: open): the silence under way stops counting there. */
    private long closedNanos = -1;
    private volatile boolean closed;
    private Thread thread;

    public DowntimeProbe(List<BooleanSupplier> endpoints, LongSupplier clockNanos) {
        this(endpoints, clockNanos, POLL_INTERVAL_NANOS);
    }

    /**
     * Polls every {@code pollIntervalNanos}: an endpoint that is a remote call (a probe of
     * the target node) is polled less often than a local load, so that the probe itself
     * does not take a core of a small machine.
     */
    public DowntimeProbe(List<BooleanSupplier> endpoints, LongSupplier clockNanos, long pollIntervalNanos) {
        this.pollIntervalNanos = pollIntervalNanos;
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("a probe needs an endpoint");
        }
        this.endpoints = List.copyOf(endpoints);
        this.clockNanos = clockNanos;
        this.answers = new AtomicLongArray(endpoints.size());
    }

    /** Probes the source guest, then the target's (once the target has one). */
    public static DowntimeProbe inProcess(Guest source, Supplier<Guest> target) {
        return new DowntimeProbe(List.of(source::probe, () -> {
            Guest g = target.get();
            return g != null && g.probe();
        }), System::nanoTime);
    }

    /** Polls on a daemon thread until {@link #close}. */
    public synchronized DowntimeProbe start() {
        if (thread == null) {
            thread = new Thread(() -> {
                while (!closed) {
                    poll();
                    LockSupport.parkNanos(pollIntervalNanos);
                }
            }, "downtime-probe");
            thread.setDaemon(true);
            thread.start();
        }
        return this;
    }

    /** One probe: the index of the endpoint that answered, or -1 if the guest answered nowhere. */
    public int poll() {
        for (int i = 0; i < endpoints.size(); i++) {
            boolean answered;
            try {
                answered = endpoints.get(i).getAsBoolean();
            } catch (RuntimeException e) {
                answered = false; // a node that is gone does not answer
            }
            if (answered) {
                long now = clockNanos.getAsLong();
                answers.incrementAndGet(i);
                synchronized (lock) {
                    if (lastAnswerNanos >= 0) {
                        longestGapNanos = Math.max(longestGapNanos, now - lastAnswerNanos);
                    }
                    lastAnswerNanos = now;
                }
                return i;
            }
        }
        return -1;
    }

    /** The longest time between two answers so far, counting the silence under way. */
    public double longestGapMs() {
        long now = clockNanos.getAsLong();
        synchronized (lock) {
            if (closedNanos >= 0) {
                now = closedNanos;
            }
            long open = lastAnswerNanos >= 0 ? now - lastAnswerNanos : 0;
            return Math.max(longestGapNanos, open) / 1e6;
        }
    }

    /** Answers endpoint {@code i} gave. */
    public long answers(int i) {
        return answers.get(i);
    }

    /** Stops polling and waits for the probe thread. */
    @Override
    public void close() {
        synchronized (lock) {
            if (closedNanos < 0) {
                closedNanos = clockNanos.getAsLong();
            }
        }
        closed = true;
        Thread t;
        synchronized (this) {
            t = thread;
        }
        if (t != null) {
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
