package dev.livemig.migration.guest;

import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The ground truth of guest writes: which migration pages the vCPUs stored to since the
 * last {@link #mark}. Trackers are scored against it (a written page a tracker did not
 * report is a false negative, a reported page nobody wrote a false positive).
 *
 * <p>Each vCPU store runs inside a write section: {@link #beginWrite} takes the vCPU's
 * own lock, the store goes through the simulated MMU (and may sleep in a userfaultfd
 * fault), and {@link #endWrite} records the page and releases the lock. {@link #mark}
 * takes every vCPU's lock, so the work it runs (a tracker's scan) and the drain of the
 * log see exactly the same set of completed stores: a store either precedes both or
 * follows both. That makes the scoring exact rather than racy. In this simulation it
 * costs the guest little extra, because a PAGEMAP_SCAN already holds the page-table lock
 * that every store needs for the whole walk.
 */
public final class WriteLog {
    private final PageBitmap written;
    private final ReentrantLock[] sections;
    private final LongAdder writes = new LongAdder();

    public WriteLog(int pages, int vcpus) {
        this.written = new PageBitmap(pages);
        this.sections = new ReentrantLock[vcpus];
        for (int i = 0; i < vcpus; i++) {
            sections[i] = new ReentrantLock();
        }
    }

    /** Enters vCPU {@code vcpu}'s write section. */
    public void beginWrite(int vcpu) {
        sections[vcpu].lock();
    }

    /** Leaves the write section after a store to {@code page} completed. */
    public void endWrite(int vcpu, int page) {
        written.set(page);
        writes.increment();
        sections[vcpu].unlock();
    }

    /** Leaves the write section without a completed store (the store faulted fatally). */
    public void abortWrite(int vcpu) {
        sections[vcpu].unlock();
    }

    /**
     * Runs {@code whileQuiesced} with no store in flight, then returns the pages written
     * since the previous mark and starts a new interval.
     */
    public PageBitmap mark(Runnable whileQuiesced) {
        for (ReentrantLock l : sections) {
            l.lock();
        }
        try {
            whileQuiesced.run();
            return written.drain();
        } finally {
            for (int i = sections.length - 1; i >= 0; i--) {
                sections[i].unlock();
            }
        }
    }

    public PageBitmap mark() {
        return mark(() -> { });
    }

    /** Stores done so far (every store, not distinct pages). */
    public long writes() {
        return writes.sum();
    }

    public int pages() {
        return written.size();
    }

    /** Tracker accuracy of one report against the truth of the same interval. */
    public record Score(long truePositivePages, long falsePositivePages, long falseNegativePages) {
        public static final Score NONE = new Score(0, 0, 0);

        public static Score of(PageBitmap reported, PageBitmap truth) {
            long tp = reported.and(truth).cardinality();
            long fp = reported.cardinality() - tp;
            long fn = truth.cardinality() - tp;
            return new Score(tp, fp, fn);
        }

        public Score plus(Score o) {
            return new Score(truePositivePages + o.truePositivePages, falsePositivePages + o.falsePositivePages,
                    falseNegativePages + o.falseNegativePages);
        }
    }
}
