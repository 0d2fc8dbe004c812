package dev.livemig.mm.hugetlb;

import dev.livemig.mm.MmConstants;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Mirrors mm/hugetlb.c struct hstate: the pool of persistent 2 MiB huge pages
 * (nr_hugepages). Allocation fails once the pool is used up; freed pages return to it.
 *
 * <p>The count is an atomic reservation rather than a lock around the frame allocator,
 * because {@link #released} runs inside {@link PhysMem}'s lock when a folio is freed: a
 * lock here taken before PhysMem's would order the two locks both ways.
 */
public final class HugetlbPool {
    private final PhysMem pm;
    private final int nrHugepages;
    private final AtomicInteger inUse = new AtomicInteger();

    public HugetlbPool(PhysMem pm, int nrHugepages) {
        this.pm = pm;
        this.nrHugepages = nrHugepages;
    }

    /** alloc_hugetlb_folio(): a zeroed huge folio with refcount 1, or -1 if the pool is empty. */
    public long alloc(boolean anon) {
        int n;
        do {
            n = inUse.get();
            if (n >= nrHugepages) {
                return -1;
            }
        } while (!inUse.compareAndSet(n, n + 1));
        long pfn = pm.allocFolio(MmConstants.HPAGE_PMD_ORDER, Folio.HUGETLB | (anon ? Folio.ANON : 0));
        if (pfn < 0) {
            inUse.decrementAndGet();
            return -1;
        }
        return pfn;
    }

    /** Called when a hugetlb folio's last reference is gone. */
    public void released() {
        inUse.decrementAndGet();
    }

    public int free() {
        return nrHugepages - inUse.get();
    }

    public int total() {
        return nrHugepages;
    }
}
