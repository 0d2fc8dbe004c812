package dev.livemig.mm.fault;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_MASK;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.pmdIndex;
import static dev.livemig.mm.MmConstants.pteIndex;

import dev.livemig.mm.VmFlags;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.vma.Vma;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors mm/mprotect.c change_protection() and mm/userfaultfd.c uffd_wp_range(): apply
 * a vma's protection to its ptes and set (MM_CP_UFFD_WP) or clear (MM_CP_UFFD_WP_RESOLVE)
 * uffd-wp. Protecting none ptes installs uffd-wp pte markers where the vma uses markers
 * (allocating missing page tables); resolving removes them. Anonymous THPs fully inside
 * the range are protected as a huge PMD, anything else is split first.
 */
public final class Mprotect {
    public static final int CP_UFFD_WP = 1;
    public static final int CP_UFFD_WP_RESOLVE = 2;
    public static final int CP_TRY_CHANGE_WRITABLE = 4;

    private Mprotect() {
    }

    /** uffd_wp_range(). Caller holds the mmap lock; takes the split page-table locks. */
    public static void uffdWpRange(Vma vma, long start, long end, boolean enable) {
        int cp = enable ? CP_UFFD_WP : CP_UFFD_WP_RESOLVE;
        if (!enable && wantsManualPteWriteUpgrade(vma)) {
            cp |= CP_TRY_CHANGE_WRITABLE;
        }
        changeProtection(vma, start, end, cp);
    }

    /** vma_wants_manual_pte_write_upgrade(). */
    public static boolean wantsManualPteWriteUpgrade(Vma vma) {
        if (vma.isShared()) {
            return vma.wantsWritenotify();
        }
        return (vma.flags & VmFlags.VM_WRITE) != 0;
    }

    /**
     * change_protection(): one PMD slot at a time, each under its split lock (a caller
     * that already holds a slot's lock, like PAGEMAP_SCAN's pte_hole, takes it again).
     */
    public static void changeProtection(Vma vma, long start, long end, int cp) {
        if (vma.isHugetlb()) {
            hugetlbChangeProtection(vma, start, end, cp);
            return;
        }
        boolean populate = (cp & CP_UFFD_WP) != 0 && vma.uffdWpUseMarkers();
        for (long addr = start; addr < end; ) {
            long next = Math.min((addr & PMD_MASK) + PMD_SIZE, end);
            ReentrantLock ptl = vma.mm.pgtable().ptlock(addr);
            ptl.lock();
            try {
                changePmdSlot(vma, addr, next, cp, populate);
            } finally {
                ptl.unlock();
            }
            addr = next;
        }
    }

    /** change_pmd_range() for the part {@code [addr, next)} of one PMD slot; its lock is held. */
    private static void changePmdSlot(Vma vma, long addr, long next, int cp, boolean populate) {
        PmdTable t = vma.mm.pgtable().pmdTable(addr, populate);
        if (t == null) {
            return;
        }
        int i = pmdIndex(addr);
        if (t.pmdNone(i)) {
            if (!populate) {
                return;
            }
            vma.mm.pgtable().pteAlloc(addr);
        }
        if (!t.isTable(i) && Pte.present(t.pmd[i])) {
            boolean splitNeeded = (cp & CP_UFFD_WP) != 0 && !vma.isAnonymous();
            if (next - addr != PMD_SIZE || splitNeeded) {
                HugeMemory.splitHugePmd(vma, t, i);
            } else {
                t.pmd[i] = changeEntry(vma, t.pmd[i], cp, true);
                return;
            }
        }
        long[] tbl = t.pte[i];
        if (tbl != null) {
            changePteRange(vma, tbl, addr, next, cp);
        }
    }

    static void changePteRange(Vma vma, long[] tbl, long addr, long end, int cp) {
        boolean uffdWp = (cp & CP_UFFD_WP) != 0;
        boolean resolve = (cp & CP_UFFD_WP_RESOLVE) != 0;
        for (; addr < end; addr += PAGE_SIZE) {
            int idx = pteIndex(addr);
            long old = tbl[idx];
            if (Pte.present(old)) {
                tbl[idx] = changeEntry(vma, old, cp, false);
            } else if (old == 0) {
                if (uffdWp && vma.uffdWpUseMarkers()) {
                    tbl[idx] = Pte.mkMarker(Pte.MARKER_UFFD_WP);
                }
            } else if (Pte.isMarker(old)) {
                if (Pte.isPoisonMarker(old) || Pte.isGuardMarker(old)) {
                    continue;
                }
                if (resolve) {
                    tbl[idx] = 0;
                }
            } else if (uffdWp) {
                tbl[idx] = old | Pte.SWP_UFFD_WP;
            } else if (resolve) {
                tbl[idx] = old & ~Pte.SWP_UFFD_WP;
            }
        }
    }

    /** pte_modify() with the vma's vm_page_prot, then the uffd-wp and writable rules. */
    static long changeEntry(Vma vma, long old, int cp, boolean huge) {
        long e = applyVmaProt(vma, old);
        if ((cp & CP_UFFD_WP) != 0) {
            e = Pte.mkUffdWp(e);
        } else if ((cp & CP_UFFD_WP_RESOLVE) != 0) {
            e = Pte.clearUffdWp(e);
        }
        if ((cp & CP_TRY_CHANGE_WRITABLE) != 0 && !Pte.write(e) && canChangeWritable(vma, e)) {
            e = Pte.mkWrite(e);
        }
        return e;
    }

    /** The protection bits of vm_page_prot applied to a present entry. */
    static long applyVmaProt(Vma vma, long pte) {
        if ((vma.flags & (VmFlags.VM_READ | VmFlags.VM_WRITE)) == 0) {
            return Pte.mkProtnone(pte);
        }
        long e = Pte.protnone(pte) ? Pte.clearProtnone(pte) : pte;
        return vma.pageProtWritable() ? Pte.mkWrite(e) : Pte.wrprotect(e);
    }

    /** can_change_pte_writable(). */
    static boolean canChangeWritable(Vma vma, long pte) {
        if ((vma.flags & VmFlags.VM_WRITE) == 0 || Pte.protnone(pte)) {
            return false;
        }
        if (vma.mm.kernel().softDirtyEnabled() && (vma.flags & VmFlags.VM_SOFTDIRTY) == 0 && !Pte.softDirty(pte)) {
            return false;
        }
        if (vma.uffdWp() && Pte.uffdWp(pte)) {
            return false;
        }
        if (!vma.isShared()) {
            long page = Memory.vmNormalPage(pte);
            PhysMem pm = Memory.pm(vma);
            return page >= 0 && Folio.isAnon(pm, Folio.head(pm, page)) && Folio.anonExclusive(pm, page);
        }
        return Pte.dirty(pte);
    }

    /** hugetlb_change_protection(). */
    static void hugetlbChangeProtection(Vma vma, long start, long end, int cp) {
        boolean uffdWp = (cp & CP_UFFD_WP) != 0;
        boolean resolve = (cp & CP_UFFD_WP_RESOLVE) != 0;
        for (long addr = start & PMD_MASK; addr < end; addr += PMD_SIZE) {
            ReentrantLock ptl = vma.mm.pgtable().ptlock(addr);
            ptl.lock();
            try {
                hugetlbChangeEntry(vma, addr, uffdWp, resolve);
            } finally {
                ptl.unlock();
            }
        }
    }

    /** The body of hugetlb_change_protection() for one huge entry; its lock is held. */
    private static void hugetlbChangeEntry(Vma vma, long addr, boolean uffdWp, boolean resolve) {
        PmdTable t = vma.mm.pgtable().pmdTable(addr, uffdWp);
        if (t == null) {
            return;
        }
        int i = pmdIndex(addr);
        long old = t.pmd[i];
        if (Pte.isMarker(old)) {
            if (Pte.isUffdWpMarker(old) && resolve) {
                t.pmd[i] = 0;
            }
        } else if (Pte.present(old)) {
            long e = applyVmaProt(vma, old);
            if (uffdWp) {
                e = Pte.mkUffdWp(e);
            } else if (resolve) {
                e = Pte.clearUffdWp(e);
            }
            t.pmd[i] = e;
        } else if (old == 0 && uffdWp) {
            t.pmd[i] = Pte.mkMarker(Pte.MARKER_UFFD_WP);
        }
    }
}
