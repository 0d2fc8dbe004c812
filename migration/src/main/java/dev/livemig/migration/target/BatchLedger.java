package dev.livemig.migration.target;

import java.util.BitSet;

/**
 * The page stream's batches by sequence, on the target: which arrived (a second copy is
 * dropped), which were placed (a switchover waits until none is missing below the count
 * the source sent), and which were given up with a broken connection. Not thread-safe:
 * {@link IncomingMigration} calls it under its lock.
 */
final class BatchLedger {
    private final BitSet arrived = new BitSet();
    private final BitSet placed = new BitSet();
    private long placedCount;
    private long duplicates;

    /** Records the arrival of batch {@code sequence}; false if it arrived before (counted as a duplicate). */
    boolean arrive(long sequence) {
        int s = (int) sequence;
        if (arrived.get(s)) {
            duplicates++;
            return false;
        }
        arrived.set(s);
        return true;
    }

    void placed(long sequence) {
        placed.set((int) sequence);
        placedCount++;
    }

    /**
     * The first batch of a new page stream after a broken one is {@code sequence}: the
     * batches before it that never arrived were lost with the old connection and will not
     * come (the source sends their pages again in new batches), so nothing waits for them
     * and a late copy is dropped.
     */
    void abandonBefore(long sequence) {
        for (int s = arrived.nextClearBit(0); s < sequence; s = arrived.nextClearBit(s + 1)) {
            arrived.set(s);
            placed.set(s);
        }
    }

    /** The lowest sequence not placed (nor given up). */
    int firstMissing() {
        return placed.nextClearBit(0);
    }

    /** Bit i (byte i / 8, bit i % 8): batch i placed or given up. */
    byte[] placedBitmap() {
        return placed.toByteArray();
    }

    /** Batches placed (not counting those given up). */
    long placedCount() {
        return placedCount;
    }

    long duplicates() {
        return duplicates;
    }
}
