package dev.livemig.mm.hugetlb;

import dev.livemig.mm.MmConstants;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;

/**
 * Mirrors mm/hugetlb.c struct hstate: the pool of persistent 2 MiB huge pages
 * (nr_hugepages). Allocation fails once the pool is used up; freed pages return to it.
 */
public final class HugetlbPool {
    private final PhysMem pm;
    private final int nrHugepages;
    private int inUse;

    public HugetlbPool(PhysMem pm, int nrHugepages) {
        this.pm = pm;
        this.nrHugepages = nrHugepages;
    }

    /** alloc_hugetlb_folio(): a zeroed huge folio with refcount 1, or -1 if the pool is empty. */
    public synchronized long alloc(boolean anon) {
        if (inUse >= nrHugepages) {
            return -1;
        }
        long pfn = pm.allocFolio(MmConstants.HPAGE_PMD_ORDER, Folio.HUGETLB | (anon ? Folio.ANON : 0));
        if (pfn < 0) {
            return -1;
        }
        inUse++;
        return pfn;
    }

    /** Called when a hugetlb folio's last reference is gone. */
    public synchronized void released() {
        inUse--;
    }

    public synchronized int free() {
        return nrHugepages - inUse;
    }

    public int total() {
        return nrHugepages;
    }
}
