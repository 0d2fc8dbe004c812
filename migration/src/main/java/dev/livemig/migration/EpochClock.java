package dev.livemig.migration;

/**
 * The one clock of a migration: epoch nanoseconds with {@link System#nanoTime()}
 * resolution. Both nodes of an in-process migration read the same clock, so downtime
 * measured from the source's pause to the target's first guest instruction is exact; on
 * two machines it is as good as their clock synchronisation.
 */
public final class EpochClock {
    private static final long BASE_EPOCH_NANOS;
    private static final long BASE_NANO_TIME;

    static {
        java.time.Instant now = java.time.Instant.now();
        BASE_NANO_TIME = System.nanoTime();
        BASE_EPOCH_NANOS = now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    private EpochClock() {
    }

    /** Nanoseconds since the Unix epoch. */
    public static long nowNanos() {
        return BASE_EPOCH_NANOS + (System.nanoTime() - BASE_NANO_TIME);
    }

    /** Milliseconds, with fractions, between two {@link #nowNanos()} readings. */
    public static double millisBetween(long fromNanos, long toNanos) {
        return (toNanos - fromNanos) / 1e6;
    }
}
