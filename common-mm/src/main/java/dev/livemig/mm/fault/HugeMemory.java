package dev.livemig.mm.fault;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.HPAGE_PMD_ORDER;
import static dev.livemig.mm.MmConstants.PMD_MASK;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.pteIndex;
import static dev.livemig.mm.fault.VmFault.*;

import dev.livemig.mm.VmFlags;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.page.Rmap;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.uffd.Userfaultfd;
import dev.livemig.mm.vma.Vma;

/**
 * Mirrors mm/huge_memory.c: anonymous transparent huge pages mapped by a PMD, the huge
 * zero page, huge write faults and PMD splitting. THP runs in "madvise" mode: only vmas
 * with MADV_HUGEPAGE fault in huge pages, and only where an aligned 2 MiB fits.
 */
public final class HugeMemory {
    private HugeMemory() {
    }

    /** thp_vma_allowable_order(PMD_ORDER) for a page fault. */
    static boolean thpAllowed(Vma vma, long addr) {
        if (!vma.isAnonymous() || (vma.flags & VmFlags.VM_HUGEPAGE) == 0
                || (vma.flags & VmFlags.VM_NOHUGEPAGE) != 0) {
            return false;
        }
        long haddr = addr & PMD_MASK;
        return haddr >= vma.start && haddr + PMD_SIZE <= vma.end;
    }

    public static boolean isHugeZero(PhysMem pm, long pmd) {
        return Pte.present(pmd) && Pte.pfn(pmd) == pm.hugeZeroPfn;
    }

    /** do_huge_pmd_anonymous_page(). */
    static int doHugePmdAnonymousPage(VmFault vmf, PmdTable t, int i) {
        Vma vma = vmf.vma;
        PhysMem pm = Memory.pm(vma);
        vma.anonVmaPrepare();
        if (!vmf.write) {
            if (vma.uffdMissing()) {
                return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_MISSING);
            }
            t.pmd[i] = Pte.mkHuge(Pte.pfnPte(pm.hugeZeroPfn));
            return OK;
        }
        if (vma.uffdMissing()) {
            return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_MISSING);
        }
        long head = pm.allocFolio(HPAGE_PMD_ORDER, 0);
        if (head < 0) {
            return FALLBACK;
        }
        mapAnonFolioPmd(vma, pm, t, i, head);
        return OK;
    }

    /** wp_huge_pmd() + do_huge_pmd_wp_page(). */
    static int wpHugePmd(VmFault vmf, PmdTable t, int i) {
        Vma vma = vmf.vma;
        PhysMem pm = Memory.pm(vma);
        long pmd = t.pmd[i];
        if (vma.uffdWp() && Pte.uffdWp(pmd)) {
            if (!vma.uffdWpAsync()) {
                return Userfaultfd.handleUserfault(vmf, VmFlags.VM_UFFD_WP);
            }
            splitHugePmd(vma, t, i);
            return FALLBACK;
        }
        if (isHugeZero(pm, pmd)) {
            return doHugeZeroWpPmd(vmf, t, i);
        }
        long head = Pte.pfn(pmd);
        long page = head + pteIndex(vmf.address);
        if (Folio.anonExclusive(pm, page) || Folio.refcount(pm, head) == 1) {
            Folio.setAnonExclusiveAll(pm, head, true);
            long entry = Pte.mkYoung(Pte.mkDirty(pmd));
            if ((vma.flags & VmFlags.VM_WRITE) != 0) {
                entry = Pte.mkWrite(entry);
            }
            t.pmd[i] = entry;
            return OK;
        }
        splitHugePmd(vma, t, i);
        return FALLBACK;
    }

    /** map_anon_folio_pmd(): maps a new anonymous THP writable (if the vma is) and dirty. */
    static void mapAnonFolioPmd(Vma vma, PhysMem pm, PmdTable t, int i, long head) {
        long entry = Pte.mkHuge(Pte.mkDirty(Pte.pfnPte(head)));
        if ((vma.flags & VmFlags.VM_WRITE) != 0) {
            entry = Pte.mkWrite(entry);
        }
        Rmap.addNewAnonPmd(pm, head);
        t.pmd[i] = entry;
    }

    /** do_huge_zero_wp_pmd(): a write to the huge zero page gets a fresh THP (split if none). */
    static int doHugeZeroWpPmd(VmFault vmf, PmdTable t, int i) {
        Vma vma = vmf.vma;
        PhysMem pm = Memory.pm(vma);
        long head = pm.allocFolio(HPAGE_PMD_ORDER, 0);
        if (head < 0) {
            splitHugePmd(vma, t, i);
            return FALLBACK;
        }
        mapAnonFolioPmd(vma, pm, t, i, head);
        return OK;
    }

    /**
     * __split_huge_pmd_locked(): replaces a huge PMD by a PTE table mapping the same
     * pages with the same bits (uffd-wp, soft-dirty, write, dirty, young, protnone).
     */
    public static void splitHugePmd(Vma vma, PmdTable t, int i) {
        PhysMem pm = Memory.pm(vma);
        long pmd = t.pmd[i];
        if (!Pte.present(pmd)) {
            return;
        }
        long[] tbl = new long[HPAGE_PMD_NR];
        long keep = pmd & (Pte.WRITE | Pte.DIRTY | Pte.YOUNG | Pte.UFFD_WP | Pte.SOFT_DIRTY | Pte.PROTNONE);
        boolean accessible = Pte.accessible(pmd);
        if (isHugeZero(pm, pmd)) {
            long entry = Pte.mkSpecial(Pte.pfnPte(pm.zeroPfn));
            if (Pte.uffdWp(pmd)) {
                entry = Pte.mkUffdWp(entry);
            }
            if (!accessible) {
                entry = Pte.mkProtnone(entry);
            }
            java.util.Arrays.fill(tbl, entry);
        } else {
            long head = Pte.pfn(pmd);
            for (int j = 0; j < HPAGE_PMD_NR; j++) {
                long entry = ((head + j) << 12) | keep | (accessible ? Pte.PRESENT : 0);
                tbl[j] = entry;
                Folio.addPteMapping(pm, head + j, 1);
            }
            Folio.addEntireMapping(pm, head, -1);
            Folio.get(pm, head, HPAGE_PMD_NR - 1);
        }
        vma.mm.pgtable().installPteTable(t, i, tbl);
    }

    /** split_huge_pmd_address(): splits the huge PMD covering {@code addr}, if any, under its lock. */
    public static void splitHugePmdAt(Vma vma, long addr) {
        PmdTable t = vma.mm.pgtable().pmdTable(addr, false);
        if (t == null) {
            return;
        }
        int i = dev.livemig.mm.MmConstants.pmdIndex(addr);
        java.util.concurrent.locks.ReentrantLock ptl = vma.mm.pgtable().ptlock(addr);
        ptl.lock();
        try {
            if (!t.isTable(i) && Pte.present(t.pmd[i])) {
                splitHugePmd(vma, t, i);
            }
        } finally {
            ptl.unlock();
        }
    }
}
