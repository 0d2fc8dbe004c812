package dev.livemig.migration.transport;

import java.util.ArrayDeque;

/**
 * A small free list of the arrays page batches are read into (sender) or parsed from
 * (receiver), given back once a transport has copied a batch out or the engine has placed
 * it. A batch of 256 pages is 1 MiB: allocated afresh per batch it is a humongous object
 * for G1 with its default 1 MiB regions, and one per millisecond on each node made G1 stop
 * both JVMs for 2–10 ms every 0.2–0.4 s (a young collection started by each humongous
 * allocation quota), the p99 of a post-copy fault and part of the stop-and-copy's scatter.
 *
 * <p>Whoever gives an array back promises that nothing references it any more; an array
 * that is never given back is simply collected. Arrays larger than {@link #maxBytes} (batches
 * of huge pages) and any beyond {@link #maxArrays} are left to the collector.
 */
public final class BatchBuffers {
    /** The page-data arrays of the batches a source sends. */
    public static final BatchBuffers SEND = new BatchBuffers(16, 4 << 20);
    /** The message arrays a target parses page batches into. */
    public static final BatchBuffers RECEIVE = new BatchBuffers(16, 4 << 20);

    private final int maxArrays;
    private final int maxBytes;
    private final ArrayDeque<byte[]> free = new ArrayDeque<>();
    // counters for tests and stats; written under the lock
    private long taken;
    private long reused;

    public BatchBuffers(int maxArrays, int maxBytes) {
        if (maxArrays < 0 || maxBytes < 0) {
            throw new IllegalArgumentException("maxArrays " + maxArrays + ", maxBytes " + maxBytes);
        }
        this.maxArrays = maxArrays;
        this.maxBytes = maxBytes;
    }

    /**
     * An array of at least {@code minLength} bytes, of {@link #sizeClass} length when
     * allocated here, so that receivers of batches a few bytes apart share arrays.
     */
    public byte[] take(int minLength) {
        if (minLength > maxBytes) {
            return new byte[minLength];
        }
        synchronized (this) {
            taken++;
            for (int i = free.size(); i > 0; i--) {
                byte[] b = free.pollFirst();
                if (b.length >= minLength) {
                    reused++;
                    return b;
                }
                // smaller than asked for: a batch of another page size, dropped rather than kept for ever
            }
        }
        return new byte[Math.min(sizeClass(minLength), maxBytes)];
    }

    /** Gives {@code b} back: the caller holds no reference to it, nor does anything it handed it to. */
    public void give(byte[] b) {
        if (b == null || b.length == 0 || b.length > maxBytes) {
            return;
        }
        synchronized (this) {
            if (free.size() < maxArrays) {
                free.addFirst(b); // the most recently used first: still in the cache
            }
        }
    }

    /** {@code n} rounded up to a multiple of 64 KiB. */
    static int sizeClass(int n) {
        return (int) Math.min(Integer.MAX_VALUE - 8, ((long) n + 0xFFFF) & ~0xFFFFL);
    }

    /** Takes so far, and how many of them an array given back served. */
    public synchronized long[] counts() {
        return new long[] {taken, reused};
    }

    public synchronized int pooled() {
        return free.size();
    }
}
