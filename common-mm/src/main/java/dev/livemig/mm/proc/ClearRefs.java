package dev.livemig.mm.proc;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_MASK;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.pmdIndex;
import static dev.livemig.mm.MmConstants.pteIndex;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.vma.Vma;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors the /proc/pid/clear_refs half of fs/proc/task_mmu.c (clear_refs_write with
 * CLEAR_REFS_SOFT_DIRTY, clear_soft_dirty, clear_soft_dirty_pmd): writing "4" resets
 * soft-dirty tracking of a process.
 *
 * <p>Each present pte loses its soft-dirty bit and is write-protected, so the next store
 * takes a write fault whose pte_mkdirty() sets the bit again; swap entries lose the
 * swap soft-dirty bit; every vma loses VM_SOFTDIRTY (which also turns on write-notify for
 * shared mappings). Hugetlb vmas are not walked (clear_refs_walk_ops has no hugetlb_entry),
 * so their ptes stay soft-dirty for ever, as on a real kernel.
 */
public final class ClearRefs {
    public static final int CLEAR_REFS_ALL = 1;
    public static final int CLEAR_REFS_ANON = 2;
    public static final int CLEAR_REFS_MAPPED = 3;
    public static final int CLEAR_REFS_SOFT_DIRTY = 4;
    public static final int CLEAR_REFS_MM_HIWATER_RSS = 5;

    private ClearRefs() {
    }

    /**
     * write(2) of {@code type} to /proc/pid/clear_refs. Only CLEAR_REFS_SOFT_DIRTY is
     * modelled; the young-bit types are EINVAL here, and soft-dirty without
     * CONFIG_MEM_SOFT_DIRTY is a no-op, as in the kernel.
     */
    public static void write(MmStruct mm, int type) {
        if (type < CLEAR_REFS_ALL || type > CLEAR_REFS_MM_HIWATER_RSS) {
            throw new KernelException(Errno.EINVAL);
        }
        if (type != CLEAR_REFS_SOFT_DIRTY) {
            throw new KernelException(Errno.EINVAL);
        }
        if (!mm.kernel().softDirtyEnabled()) {
            return;
        }
        mm.mmapLock().writeLock().lock();
        try {
            for (Vma vma : mm.vmas().all()) {
                // vm_flags_clear(VM_SOFTDIRTY) + vma_set_page_prot(): vm_page_prot follows the flags
                vma.flags &= ~VmFlags.VM_SOFTDIRTY;
            }
            for (Vma vma : mm.vmas().all()) {
                if (vma.isHugetlb() || (vma.flags & VmFlags.VM_PFNMAP) != 0) {
                    continue;
                }
                clearRange(mm, vma.start, vma.end);
            }
        } finally {
            mm.mmapLock().writeLock().unlock();
        }
    }

    /** clear_refs_pte_range() for one vma. */
    private static void clearRange(MmStruct mm, long start, long end) {
        for (long addr = start; addr < end; ) {
            long next = Math.min((addr & PMD_MASK) + PMD_SIZE, end);
            PmdTable t = mm.pgtable().pmdTable(addr, false);
            if (t != null) {
                ReentrantLock ptl = mm.pgtable().ptlock(addr);
                ptl.lock();
                try {
                    clearPmdSlot(t, addr, next);
                } finally {
                    ptl.unlock();
                }
            }
            addr = next;
        }
    }

    /** The part {@code [addr, next)} of one PMD slot; its split lock is held. */
    private static void clearPmdSlot(PmdTable t, long addr, long next) {
        int i = pmdIndex(addr);
        if (t.isTable(i)) {
            long[] tbl = t.pte[i];
            for (long a = addr; a < next; a += PAGE_SIZE) {
                tbl[pteIndex(a)] = clearSoftDirty(tbl[pteIndex(a)]);
            }
        } else if (Pte.present(t.pmd[i])) {
            // clear_soft_dirty_pmd(): the whole THP at once
            t.pmd[i] = Pte.clearSoftDirty(Pte.wrprotect(t.pmd[i]));
        }
    }

    /** clear_soft_dirty(). */
    static long clearSoftDirty(long pte) {
        if (Pte.present(pte)) {
            return Pte.clearSoftDirty(Pte.wrprotect(pte));
        }
        if (pte != 0 && !Pte.isMarker(pte)) {
            return pte & ~Pte.SWP_SOFT_DIRTY;
        }
        return pte;
    }
}
