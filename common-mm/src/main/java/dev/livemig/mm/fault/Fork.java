package dev.livemig.mm.fault;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_MASK;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.pmdIndex;
import static dev.livemig.mm.MmConstants.pteIndex;

import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.uffd.Userfaultfd;
import dev.livemig.mm.vma.Vma;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors kernel/fork.c dup_mmap() and mm/memory.c copy_page_range(): a child address
 * space that shares every page copy-on-write.
 *
 * <p>The uffd-wp rules of the seed "uffd-wp on shmem across fork": dup_userfaultfd()
 * runs before the page tables are copied, so a child vma that loses its registration
 * (no EVENT_FORK) gets neither uffd-wp bits nor markers, and vma_needs_copy() skips the
 * page tables of shared file vmas entirely unless the child vma keeps uffd-wp.
 */
public final class Fork {
    private Fork() {
    }

    public static MmStruct fork(MmStruct parent) {
        MmStruct child = parent.kernel().newMm();
        Userfaultfd.ForkCtxs fcs = new Userfaultfd.ForkCtxs();
        parent.mmapLock().writeLock().lock();
        try {
            child.copyLayoutFrom(parent);
            for (Vma src : parent.vmas().all()) {
                if ((src.flags & VmFlags.VM_DONTCOPY) != 0) {
                    continue;
                }
                Vma dst = src.copyFor(child);
                child.vmas().insert(dst);
                if (dst.file != null) {
                    dst.file.addMapping(dst);
                }
                Userfaultfd.dupUserfaultfd(dst, child, fcs);
                if (vmaNeedsCopy(dst, src)) {
                    copyPageRange(dst, src);
                }
            }
        } finally {
            parent.mmapLock().writeLock().unlock();
        }
        Userfaultfd.dupUserfaultfdComplete(fcs);
        return child;
    }

    /** vma_needs_copy(). */
    static boolean vmaNeedsCopy(Vma dst, Vma src) {
        return dst.uffdWp() || (src.flags & VmFlags.VM_PFNMAP) != 0 || src.anonVma;
    }

    /**
     * copy_page_range(): one PMD slot at a time, under the parent's split lock of the slot
     * (which keeps the parent's guest stores out while their ptes turn read-only) and the
     * child's (copy_pte_range() holds both; nobody else can reach the child yet).
     */
    static void copyPageRange(Vma dst, Vma src) {
        if (src.isHugetlb()) {
            copyHugetlbPageRange(dst, src);
            return;
        }
        for (long addr = src.start; addr < src.end; ) {
            long next = Math.min((addr & PMD_MASK) + PMD_SIZE, src.end);
            ReentrantLock sptl = src.mm.pgtable().ptlock(addr);
            ReentrantLock dptl = dst.mm.pgtable().ptlock(addr);
            sptl.lock();
            dptl.lock();
            try {
                copyPmdSlot(dst, src, addr, next);
            } finally {
                dptl.unlock();
                sptl.unlock();
            }
            addr = next;
        }
    }

    /** copy_pmd_range() for the part {@code [addr, next)} of one PMD slot; both locks are held. */
    private static void copyPmdSlot(Vma dst, Vma src, long addr, long next) {
        PhysMem pm = Memory.pm(src);
        PmdTable st = src.mm.pgtable().pmdTable(addr, false);
        if (st == null) {
            return;
        }
        int i = pmdIndex(addr);
        if (!st.isTable(i) && Pte.present(st.pmd[i])) {
            if (dst.isAnonymous()) {
                copyHugePmd(dst, st, i, addr, pm);
            }
            return;
        }
        long[] stbl = st.pte[i];
        if (stbl == null) {
            return;
        }
        long[] dtbl = dst.mm.pgtable().pteAlloc(addr);
        for (long a = addr; a < next; a += PAGE_SIZE) {
            int idx = pteIndex(a);
            long pte = stbl[idx];
            if (pte == 0) {
                continue;
            }
            if (Pte.present(pte)) {
                dtbl[idx] = copyPresentPte(dst, src, stbl, idx, pte, pm);
            } else {
                long n = copyNonpresentPte(dst, pte);
                if (n != 0) {
                    dtbl[idx] = n;
                }
            }
        }
    }

    /** copy_present_pte(). */
    static long copyPresentPte(Vma dst, Vma src, long[] stbl, int idx, long pte, PhysMem pm) {
        long page = Memory.vmNormalPage(pte);
        if (page >= 0) {
            long head = Folio.head(pm, page);
            Folio.get(pm, head);
            if (Folio.isAnon(pm, head)) {
                Folio.clear(pm, page, Folio.ANON_EXCLUSIVE);
            }
            Folio.addPteMapping(pm, page, 1);
        }
        if (src.isCowMapping() && Pte.write(pte)) {
            stbl[idx] = Pte.wrprotect(pte);
            pte = Pte.wrprotect(pte);
        }
        if (src.isShared()) {
            pte = Pte.mkClean(pte);
        }
        pte = Pte.mkOld(pte);
        if (!dst.uffdWp()) {
            pte = Pte.clearUffdWp(pte);
        }
        return pte;
    }

    /** copy_nonpresent_pte() / copy_pte_marker(). */
    static long copyNonpresentPte(Vma dst, long pte) {
        if (Pte.isMarker(pte)) {
            long m = Pte.markerBits(pte);
            long keep = m & (Pte.MARKER_POISONED | Pte.MARKER_GUARD);
            if (dst.uffdWp()) {
                keep |= m & Pte.MARKER_UFFD_WP;
            }
            return keep == 0 ? 0 : Pte.mkMarker(keep);
        }
        return dst.uffdWp() ? pte : pte & ~Pte.SWP_UFFD_WP;
    }

    /** copy_huge_pmd(). */
    static void copyHugePmd(Vma dst, PmdTable st, int i, long addr, PhysMem pm) {
        long pmd = st.pmd[i];
        if (!HugeMemory.isHugeZero(pm, pmd)) {
            long head = Pte.pfn(pmd);
            Folio.get(pm, head);
            Folio.setAnonExclusiveAll(pm, head, false);
            Folio.addEntireMapping(pm, head, 1);
        }
        st.pmd[i] = Pte.wrprotect(pmd);
        long d = Pte.wrprotect(pmd);
        if (!dst.uffdWp()) {
            d = Pte.clearUffdWp(d);
        }
        PmdTable dt = dst.mm.pgtable().pmdTable(addr, true);
        dt.pmd[i] = Pte.mkOld(d);
    }

    /** copy_hugetlb_page_range(). */
    static void copyHugetlbPageRange(Vma dst, Vma src) {
        for (long addr = src.start; addr < src.end; addr += PMD_SIZE) {
            ReentrantLock sptl = src.mm.pgtable().ptlock(addr);
            ReentrantLock dptl = dst.mm.pgtable().ptlock(addr);
            sptl.lock();
            dptl.lock();
            try {
                copyHugetlbEntry(dst, src, addr);
            } finally {
                dptl.unlock();
                sptl.unlock();
            }
        }
    }

    /** One huge entry of copy_hugetlb_page_range(); both slot locks are held. */
    private static void copyHugetlbEntry(Vma dst, Vma src, long addr) {
        PhysMem pm = Memory.pm(src);
        PmdTable st = src.mm.pgtable().pmdTable(addr, false);
        if (st == null) {
            return;
        }
        int i = pmdIndex(addr);
        long e = st.pmd[i];
        if (e == 0) {
            return;
        }
        PmdTable dt = dst.mm.pgtable().pmdTable(addr, true);
        if (Pte.isMarker(e)) {
            long n = copyNonpresentPte(dst, e);
            if (n != 0) {
                dt.pmd[i] = n;
            }
            return;
        }
        if (!Pte.present(e)) {
            return;
        }
        long head = Pte.pfn(e);
        Folio.get(pm, head);
        if (Folio.isAnon(pm, head)) {
            Folio.setAnonExclusiveAll(pm, head, false);
        }
        Folio.addEntireMapping(pm, head, 1);
        if (src.isCowMapping()) {
            st.pmd[i] = Pte.wrprotect(e);
            e = Pte.wrprotect(e);
        }
        if (!dst.uffdWp()) {
            e = Pte.clearUffdWp(e);
        }
        dt.pmd[i] = e;
    }
}
