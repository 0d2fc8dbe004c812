package dev.livemig.mm.proc;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_MASK;

import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.fault.Memory;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.vma.Vma;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors the /proc/pid/pagemap half of fs/proc/task_mmu.c (pagemap_read,
 * pte_to_pagemap_entry, pagemap_pmd_range_thp, pagemap_hugetlb_range). One 64-bit entry
 * per virtual page, read as root (PFNs visible):
 *
 * <pre>
 *   bits 0-54  PFN if present; swap type (0-4) and offset (5-54) if swapped or a marker
 *   bit  55    PM_SOFT_DIRTY
 *   bit  56    PM_MMAP_EXCLUSIVE  page mapped exactly once
 *   bit  57    PM_UFFD_WP
 *   bit  58    PM_GUARD_REGION
 *   bit  61    PM_FILE            file page or shared anonymous
 *   bit  62    PM_SWAP            swap entry or pte marker
 *   bit  63    PM_PRESENT
 * </pre>
 */
public final class Pagemap {
    public static final long PM_PFN_MASK = (1L << 55) - 1;
    public static final long PM_SOFT_DIRTY = 1L << 55;
    public static final long PM_MMAP_EXCLUSIVE = 1L << 56;
    public static final long PM_UFFD_WP = 1L << 57;
    public static final long PM_GUARD_REGION = 1L << 58;
    public static final long PM_FILE = 1L << 61;
    public static final long PM_SWAP = 1L << 62;
    public static final long PM_PRESENT = 1L << 63;

    private Pagemap() {
    }

    public static boolean present(long pme) {
        return (pme & PM_PRESENT) != 0;
    }

    public static long pfn(long pme) {
        return pme & PM_PFN_MASK;
    }

    /** Reads the entries of {@code n} pages from {@code start}. */
    public static long[] read(MmStruct mm, long start, int n) {
        long[] out = new long[n];
        mm.mmapLock().readLock().lock();
        try {
            for (int k = 0; k < n; k++) {
                long addr = start + k * PAGE_SIZE;
                Vma vma = mm.vmas().lookup(addr);
                if (vma == null) {
                    continue;
                }
                ReentrantLock ptl = mm.pgtable().ptlock(addr);
                ptl.lock();
                try {
                    out[k] = entry(mm, vma, addr);
                } finally {
                    ptl.unlock();
                }
            }
        } finally {
            mm.mmapLock().readLock().unlock();
        }
        return out;
    }

    /** One pagemap entry. Caller holds the split lock of the entry's PMD slot. */
    public static long entry(MmStruct mm, Vma vma, long addr) {
        PhysMem pm = mm.kernel().physMem();
        boolean sd = mm.kernel().softDirtyEnabled();
        long flags = 0;
        long e = mm.pgtable().lookup(addr);
        if (vma.isHugetlb()) {
            e = mm.pgtable().lookup(addr & PMD_MASK);
            if (Pte.present(e)) {
                long head = Pte.pfn(e);
                flags |= PM_PRESENT | (head + ((addr >>> 12) & 511));
                if (!Folio.isAnon(pm, head)) flags |= PM_FILE;
                if (Folio.entireMapcount(pm, head) == 1) flags |= PM_MMAP_EXCLUSIVE;
                if (Pte.uffdWp(e)) flags |= PM_UFFD_WP;
                if (sd && Pte.softDirty(e)) flags |= PM_SOFT_DIRTY;
            } else if (Pte.swpUffdWpAny(e)) {
                flags |= PM_UFFD_WP;
            }
            return flags;
        }
        if (Pte.present(e)) {
            long pfn = Pte.pfn(e);
            long page;
            if (Pte.huge(e)) {
                page = pfn + ((addr >>> 12) & 511);
                if (dev.livemig.mm.fault.HugeMemory.isHugeZero(pm, e)) {
                    flags |= PM_FILE;
                } else if (!Folio.isAnon(pm, pfn)) {
                    flags |= PM_FILE;
                }
                // pagemap_pmd_range_thp() asks __folio_page_mapped_exclusively() about
                // pmd_page() -- the head page -- for every subpage of the PMD
                if (Folio.preciseMapcount(pm, pfn) == 1 && !Folio.isZero(pm, pfn)) {
                    flags |= PM_MMAP_EXCLUSIVE;
                }
                flags |= PM_PRESENT | page;
            } else {
                flags |= PM_PRESENT | pfn;
                page = Memory.vmNormalPage(e);
                if (page >= 0) {
                    long head = Folio.head(pm, page);
                    if (!Folio.isAnon(pm, head)) flags |= PM_FILE;
                    if (Folio.preciseMapcount(pm, page) == 1) flags |= PM_MMAP_EXCLUSIVE;
                }
            }
            if (Pte.uffdWp(e)) flags |= PM_UFFD_WP;
            if (sd && Pte.softDirty(e)) flags |= PM_SOFT_DIRTY;
        } else if (e != 0) {
            flags |= PM_SWAP | Pte.swpType(e) | (Pte.swpOffset(e) << 5);
            if (Pte.swpUffdWp(e) || Pte.isUffdWpMarker(e)) flags |= PM_UFFD_WP;
            if (sd && Pte.swpSoftDirty(e)) flags |= PM_SOFT_DIRTY;
            if (Pte.isGuardMarker(e)) flags |= PM_GUARD_REGION;
        }
        if (sd && (vma.flags & VmFlags.VM_SOFTDIRTY) != 0) {
            flags |= PM_SOFT_DIRTY;
        }
        return flags;
    }
}
