package dev.livemig.mm.vma;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.HPAGE_PMD_ORDER;
import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_MASK;
import static dev.livemig.mm.MmConstants.PMD_SIZE;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.fault.Memory;
import dev.livemig.mm.fault.Zap;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.page.Rmap;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.uffd.Userfaultfd;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors the per-vma behaviours of mm/madvise.c: MADV_DONTNEED, MADV_REMOVE (a hole
 * punch through the file), MADV_POPULATE_READ/WRITE (faults driven like GUP) and
 * MADV_COLLAPSE (mm/khugepaged.c).
 */
final class Madvise {
    private Madvise() {
    }

    /** madvise_dontneed_free() for one vma piece. Caller holds the mmap read lock. */
    static void dontneed(MmStruct mm, Vma v, long s, long e) {
        if (v.isHugetlb()) {
            if ((s & ~PMD_MASK) != 0) {
                throw new KernelException(Errno.EINVAL);
            }
            e &= PMD_MASK;
        } else if ((v.flags & (VmFlags.VM_LOCKED | VmFlags.VM_PFNMAP)) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        if (s == e) {
            return;
        }
        if (!Userfaultfd.remove(v, s, e)) {
            v = mm.vmas().lookup(s);
            if (v == null) {
                throw new KernelException(Errno.ENOMEM);
            }
            e = Math.min(e, v.end);
        }
        Zap.zapRange(v, s, e, Zap.Details.DONTNEED);
    }

    /** madvise_remove(): punch a hole in the backing file. */
    static void remove(MmStruct mm, Vma v, long s, long e) {
        if ((v.flags & VmFlags.VM_LOCKED) != 0 || v.file == null) {
            throw new KernelException(Errno.EINVAL);
        }
        if ((v.flags & (VmFlags.VM_SHARED | VmFlags.VM_MAYWRITE)) != (VmFlags.VM_SHARED | VmFlags.VM_MAYWRITE)) {
            throw new KernelException(Errno.EACCES);
        }
        long first = v.pgoffOf(s);
        long lastExcl = v.pgoffOf(e);
        AddressSpace f = v.file;
        Userfaultfd.remove(v, s, e);
        // shmem_fallocate(PUNCH_HOLE): unmap, truncate, and unmap again what a fault in
        // another mapping mapped from the cache in between (truncate_inode_folio() does
        // that per folio); a fault after the truncation finds the index empty
        if (f.isHugetlb()) {
            long hs = (first + HPAGE_PMD_NR - 1) / HPAGE_PMD_NR;
            long he = lastExcl / HPAGE_PMD_NR;
            if (hs < he) {
                Zap.unmapMappingRange(f, hs * HPAGE_PMD_NR, he * HPAGE_PMD_NR - 1);
                Mmap.truncatePages(mm, f, hs, he - 1);
                Zap.unmapMappingRange(f, hs * HPAGE_PMD_NR, he * HPAGE_PMD_NR - 1);
            }
        } else {
            Zap.unmapMappingRange(f, first, lastExcl - 1);
            Mmap.truncatePages(mm, f, first, Math.min(lastExcl, f.sizePages()) - 1);
            Zap.unmapMappingRange(f, first, lastExcl - 1);
        }
    }

    /** madvise_populate(): fault in every page as GUP would. */
    static void populate(MmStruct mm, long start, long end, boolean write) {
        long addr = start;
        while (addr < end) {
            Vma v;
            mm.mmapLock().readLock().lock();
            try {
                v = mm.vmas().lookup(addr);
            } finally {
                mm.mmapLock().readLock().unlock();
            }
            if (v == null) {
                throw new KernelException(Errno.ENOMEM);
            }
            // __get_user_pages() with FOLL_MADV_POPULATE: a vma that check_vma_flags()
            // rejects is an incompatible mapping (EINVAL); EFAULT is kept for faults that
            // end in SIGBUS/SIGSEGV.
            if (write ? (v.flags & VmFlags.VM_WRITE) == 0 : (v.flags & VmFlags.VM_READ) == 0) {
                throw new KernelException(Errno.EINVAL);
            }
            if (!mm.gupFaultIn(addr, write)) {
                throw new KernelException(Errno.EFAULT);
            }
            addr += v.isHugetlb() ? PMD_SIZE - (addr & ~PMD_MASK) : PAGE_SIZE;
        }
    }

    /** MADV_COLLAPSE on an anonymous vma: replace aligned PTE-mapped ranges by THPs. */
    static void collapse(MmStruct mm, Vma v, long s, long e) {
        if (!v.isAnonymous() || v.uffdCtx != null) {
            throw new KernelException(Errno.EINVAL);
        }
        for (long a = (s + PMD_SIZE - 1) & PMD_MASK; a + PMD_SIZE <= e; a += PMD_SIZE) {
            ReentrantLock ptl = mm.pgtable().ptlock(a);
            ptl.lock();
            try {
                collapsePmdSlot(mm, v, a);
            } finally {
                ptl.unlock();
            }
        }
    }

    /** collapse_huge_page() for the PMD slot at {@code a}; its split lock is held. */
    private static void collapsePmdSlot(MmStruct mm, Vma v, long a) {
        PhysMem pm = mm.kernel().physMem();
        PmdTable t = mm.pgtable().pmdTable(a, false);
        int i = dev.livemig.mm.MmConstants.pmdIndex(a);
        if (t == null || !t.isTable(i)) {
            return;
        }
        long[] tbl = t.pte[i];
        for (long pte : tbl) {
            if (pte != 0 && !Pte.present(pte)) {
                return;
            }
        }
        long head = pm.allocFolio(HPAGE_PMD_ORDER, 0);
        if (head < 0) {
            throw new KernelException(Errno.ENOMEM);
        }
        for (int j = 0; j < HPAGE_PMD_NR; j++) {
            long page = Pte.present(tbl[j]) ? Memory.vmNormalPage(tbl[j]) : -1;
            if (page >= 0) {
                pm.copyFrame(page, head + j);
                Rmap.removePte(pm, page);
            }
        }
        mm.pgtable().freePteTable(t, i);
        long entry = Pte.mkHuge(Pte.mkDirty(Pte.pfnPte(head)));
        if ((v.flags & VmFlags.VM_WRITE) != 0) {
            entry = Pte.mkWrite(entry);
        }
        Rmap.addNewAnonPmd(pm, head);
        t.pmd[i] = entry;
        v.anonVmaPrepare();
    }
}
