package dev.livemig.mm.fault;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_MASK;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.pmdIndex;
import static dev.livemig.mm.MmConstants.pteIndex;

import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.page.Rmap;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.vma.Vma;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors the zap half of mm/memory.c (zap_page_range_single, zap_pte_range,
 * zap_install_uffd_wp_if_needed), mm/pt_reclaim.c and mm/hugetlb.c
 * __unmap_hugepage_range: tear down the mappings of a range. On file-backed vmas registered for uffd-wp, a protected entry
 * leaves a uffd-wp pte marker behind so the page stays "clean"; on anonymous vmas
 * everything goes.
 */
public final class Zap {
    /**
     * zap_details: which pages to drop, whether markers survive, and whether a PTE table
     * left empty is freed (reclaim_pt, CONFIG_PT_RECLAIM: set by MADV_DONTNEED only).
     */
    public record Details(AddressSpace mapping, boolean evenCows, boolean dropMarkers, boolean reclaimPt) {
        public static final Details DONTNEED = new Details(null, true, false, true);
        public static final Details TEARDOWN = new Details(null, true, true, false);
    }

    private Zap() {
    }

    /** Zaps {@code [start, end)} of {@code vma}, one PMD slot at a time under its split lock. */
    public static void zapRange(Vma vma, long start, long end, Details d) {
        if (vma.isHugetlb()) {
            zapHugetlb(vma, start, end, d);
            return;
        }
        for (long addr = start; addr < end; ) {
            long next = Math.min((addr & PMD_MASK) + PMD_SIZE, end);
            ReentrantLock ptl = vma.mm.pgtable().ptlock(addr);
            ptl.lock();
            try {
                zapPmdSlot(vma, addr, next, d);
            } finally {
                ptl.unlock();
            }
            addr = next;
        }
    }

    /** zap_pmd_range() for the part {@code [addr, next)} of one PMD slot; its lock is held. */
    private static void zapPmdSlot(Vma vma, long addr, long next, Details d) {
        PmdTable t = vma.mm.pgtable().pmdTable(addr, false);
        if (t == null) {
            return;
        }
        PhysMem pm = Memory.pm(vma);
        int i = pmdIndex(addr);
        if (!t.isTable(i) && Pte.present(t.pmd[i])) {
            if (next - addr == PMD_SIZE) {
                long pmd = t.pmd[i];
                t.pmd[i] = 0;
                if (!HugeMemory.isHugeZero(pm, pmd)) {
                    Rmap.removePmd(pm, Pte.pfn(pmd));
                }
                return;
            }
            HugeMemory.splitHugePmd(vma, t, i);
        }
        long[] tbl = t.pte[i];
        if (tbl != null) {
            zapPteRange(vma, tbl, addr, next, d);
            // reclaim_pt_is_enabled() needs the zap to span the whole table; a table
            // still holding a kept marker or COW page is not empty and stays
            if (d.reclaimPt() && next - addr == PMD_SIZE && allNone(tbl)) {
                vma.mm.pgtable().freePteTable(t, i);
            }
        }
    }

    private static boolean allNone(long[] tbl) {
        for (long pte : tbl) {
            if (pte != 0) {
                return false;
            }
        }
        return true;
    }

    static void zapPteRange(Vma vma, long[] tbl, long addr, long end, Details d) {
        PhysMem pm = Memory.pm(vma);
        for (; addr < end; addr += PAGE_SIZE) {
            int idx = pteIndex(addr);
            long pte = tbl[idx];
            if (pte == 0) {
                continue;
            }
            if (Pte.present(pte)) {
                long page = Memory.vmNormalPage(pte);
                if (page >= 0 && d.mapping() != null && !d.evenCows()
                        && Folio.isAnon(pm, Folio.head(pm, page))) {
                    continue; // unmap_mapping_range() keeps private COW copies
                }
                tbl[idx] = 0;
                if (page >= 0) {
                    if (Pte.dirty(pte)) {
                        Folio.set(pm, Folio.head(pm, page), Folio.DIRTY);
                    }
                    Rmap.removePte(pm, page);
                }
            } else if (Pte.isMarker(pte)) {
                if (Pte.isGuardMarker(pte) && !d.dropMarkers()) {
                    continue;
                }
                if (Pte.isPoisonMarker(pte) && d.mapping() != null && !d.evenCows()) {
                    continue;
                }
                tbl[idx] = 0;
            } else {
                tbl[idx] = 0;
            }
            if (!d.dropMarkers()) {
                installUffdWpIfNeeded(vma, tbl, idx, pte);
            }
        }
    }

    /** pte_install_uffd_wp_if_needed(). */
    static void installUffdWpIfNeeded(Vma vma, long[] tbl, int idx, long old) {
        if (vma.isAnonymous() || !vma.uffdWp()) {
            return;
        }
        boolean arm = (Pte.present(old) && Pte.uffdWp(old)) || Pte.swpUffdWpAny(old);
        if (arm) {
            tbl[idx] = Pte.mkMarker(Pte.MARKER_UFFD_WP);
        }
    }

    static void zapHugetlb(Vma vma, long start, long end, Details d) {
        for (long addr = start & PMD_MASK; addr < end; addr += PMD_SIZE) {
            ReentrantLock ptl = vma.mm.pgtable().ptlock(addr);
            ptl.lock();
            try {
                zapHugetlbEntry(vma, addr, d);
            } finally {
                ptl.unlock();
            }
        }
    }

    /** __unmap_hugepage_range() for one huge entry; its lock is held. */
    private static void zapHugetlbEntry(Vma vma, long addr, Details d) {
        PhysMem pm = Memory.pm(vma);
        PmdTable t = vma.mm.pgtable().pmdTable(addr, false);
        if (t == null) {
            return;
        }
        int i = pmdIndex(addr);
        long pte = t.pmd[i];
        if (pte == 0) {
            return;
        }
        if (!Pte.present(pte)) {
            t.pmd[i] = Pte.swpUffdWpAny(pte) && !d.dropMarkers() ? Pte.mkMarker(Pte.MARKER_UFFD_WP) : 0;
            return;
        }
        long head = Pte.pfn(pte);
        if (d.mapping() != null && !d.evenCows() && Folio.isAnon(pm, head)) {
            return;
        }
        t.pmd[i] = Pte.uffdWp(pte) && !d.dropMarkers() ? Pte.mkMarker(Pte.MARKER_UFFD_WP) : 0;
        Rmap.removePmd(pm, head);
    }

    /**
     * unmap_mapping_range(): zaps the pages of file indexes {@code [first, last]} from
     * every mapping of the file (hole punch); private COW copies stay. The i_mmap lock is
     * held for the walk, so that no vma of another mm leaves the file (and its range is
     * reused) while its ptes are zapped; the caller holds no split lock.
     */
    public static void unmapMappingRange(AddressSpace file, long firstPgoff, long lastPgoff) {
        Details d = new Details(file, false, false, false);
        file.iMmapLock().lock();
        try {
            unmapMappingRangeTree(file, firstPgoff, lastPgoff, d);
        } finally {
            file.iMmapLock().unlock();
        }
    }

    /** unmap_mapping_range_tree(); the i_mmap lock is held. */
    private static void unmapMappingRangeTree(AddressSpace file, long firstPgoff, long lastPgoff, Details d) {
        for (Vma v : file.mappings()) {
            long vFirst = v.pgoff;
            long vLast = v.pgoff + v.pages() - 1;
            long s = Math.max(firstPgoff, vFirst);
            long e = Math.min(lastPgoff, vLast);
            if (s > e) {
                continue;
            }
            long start = v.start + ((s - v.pgoff) << 12);
            long endAddr = v.start + ((e - v.pgoff + 1) << 12);
            zapRange(v, start, endAddr, d);
        }
    }
}
