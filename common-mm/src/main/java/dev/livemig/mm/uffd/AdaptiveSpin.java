package dev.livemig.mm.uffd;

import java.util.function.BooleanSupplier;

/**
 * How long a thread about to sleep on a userfaultfd first polls for its wake-up. Not a
 * kernel mirror: the nearest kernel idea is the optimistic spinning of
 * kernel/locking/mutex.c (spin while the owner runs on another CPU, sleep otherwise).
 *
 * <p>Why the simulation needs it: a park and unpark of a Java thread costs 10 to 45 µs in
 * this VM when the other core is idle (the wake-up goes through the hypervisor), several
 * times the kernel's context switch, and a sync fault round trip is two of them (vCPU to
 * monitor, monitor back to vCPU). Polling briefly turns each into a cache-line hand-off.
 * But polling takes the core from the very thread it waits for when cores are
 * oversubscribed, so the poll adapts: the budget drops to a quarter each time a poll runs
 * out and the thread parks anyway, to nothing below {@link #MIN_NANOS}; one wait in
 * {@link #PROBE_EVERY} then polls the full budget again to find out whether polling has
 * started to pay (a probe that runs out drops straight back to nothing), and a poll that
 * sees its wake-up, or a parked wait that ended within the full budget, restores it.
 *
 * <p>For faulting threads off by default ({@code -Dlivemig.uffd.spinNanos=50000} turns it on
 * with a 50 µs full budget; monitors poll by default, {@link #READER_MAX_NANOS}): in JMH a sync uffd-wp round trip drops from 8–40 µs to about 2 µs with it, but
 * in the trackers scenario (a vCPU and its monitor beside the engine's threads, on two
 * shared cores) the sync tracker's vCPU spent 14.0 µs of CPU per store with it against
 * 4.3 µs without, since polls that succeed only after the polling thread has slowed the
 * one it waits for still count as success. The budget is a hint shared by the threads of
 * one context; races on it only change how long someone polls.
 */
final class AdaptiveSpin {
    static final long DEFAULT_MAX_NANOS = Long.getLong("livemig.uffd.spinNanos", 20_000);
    /**
     * The monitor's side: a reader that has just answered a fault polls for the next one
     * before it sleeps, on by default with 20 µs. It spends the monitor's CPU, never a vCPU's
     * (the faulting thread still parks), and saves the vCPU-to-monitor hand-off of a round
     * trip. {@code -Dlivemig.uffd.readerSpinNanos=0} turns it off.
     */
    static final long READER_MAX_NANOS = Long.getLong("livemig.uffd.readerSpinNanos", DEFAULT_MAX_NANOS);
    static final long MIN_NANOS = 1_000;
    static final int PROBE_EVERY = 64;

    private final long maxNanos;
    private volatile long budget;
    private int waitsSinceProbe;

    AdaptiveSpin() {
        this(DEFAULT_MAX_NANOS);
    }

    AdaptiveSpin(long maxNanos) {
        this.maxNanos = maxNanos;
        this.budget = maxNanos;
    }

    /**
     * Polls {@code done} for up to the current budget, and never longer than
     * {@code limitNanos}. Returns true if it became true (the caller need not park),
     * false if the caller must park.
     */
    boolean poll(BooleanSupplier done, long limitNanos) {
        long b = budget;
        boolean probe = false;
        if (b == 0) {
            if (maxNanos == 0 || ++waitsSinceProbe < PROBE_EVERY) {
                return done.getAsBoolean();
            }
            waitsSinceProbe = 0;
            b = maxNanos;
            probe = true;
        }
        long end = System.nanoTime() + Math.min(b, limitNanos);
        do {
            if (done.getAsBoolean()) {
                budget = maxNanos;
                return true;
            }
            Thread.onSpinWait();
        } while (System.nanoTime() < end);
        if (done.getAsBoolean()) {
            budget = maxNanos;
            return true;
        }
        long quarter = b / 4;
        budget = probe || quarter < MIN_NANOS ? 0 : quarter;
        return false;
    }

    /**
     * Reports how long a wait that had to park took in all, poll included. A wait that
     * ended within the full budget would have been caught by polling, so the full budget
     * comes back: this is what lets two threads that wait for each other (a vCPU and its
     * monitor) return to polling together after both have backed off, which the probes
     * alone rarely achieve, since each probe succeeds only if the other side polls too.
     */
    void parkedWaitEnded(long totalNanos) {
        if (totalNanos <= maxNanos) {
            budget = maxNanos;
        }
    }

    /** The current budget in nanoseconds (0: park at once except for a probe). */
    long budgetNanos() {
        return budget;
    }
}
