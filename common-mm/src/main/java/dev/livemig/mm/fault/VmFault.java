package dev.livemig.mm.fault;

import dev.livemig.mm.uffd.UffdWaiter;
import dev.livemig.mm.vma.Vma;

/**
 * Mirrors struct vm_fault (include/linux/mm.h): the state of one page fault as it moves
 * through handle_mm_fault(). {@link #waiter} is set when the fault was handed to a
 * userfaultfd monitor; the faulting thread sleeps on it after dropping its locks.
 */
public final class VmFault {
    /** Fault results (vm_fault_t), as small ints. */
    public static final int OK = 0;
    public static final int RETRY = 1;
    public static final int SIGBUS = 2;
    public static final int SIGSEGV = 3;
    public static final int OOM = 4;
    public static final int FALLBACK = 5;
    public static final int NOPAGE = 6;
    public static final int HWPOISON = 7;

    public Vma vma;
    /** Page-aligned faulting address (huge-page aligned on hugetlb). */
    public long address;
    /** The exact faulting address. */
    public long realAddress;
    public boolean write;
    /** FAULT_FLAG_ORIG_PTE_VALID plus orig_pte. */
    public boolean origPteValid;
    public long origPte;
    public long pgoff;
    public UffdWaiter waiter;

    public VmFault(Vma vma, long realAddress, boolean write) {
        this.vma = vma;
        this.realAddress = realAddress;
        this.address = realAddress & dev.livemig.mm.MmConstants.PAGE_MASK;
        this.write = write;
        this.pgoff = vma.pgoffOf(address);
    }

    /** vmf_orig_pte_uffd_wp(): the fault replaces a uffd-wp pte marker. */
    public boolean origPteUffdWp() {
        return origPteValid && dev.livemig.mm.pgtable.Pte.isUffdWpMarker(origPte);
    }

    public static boolean isError(int r) {
        return r == SIGBUS || r == SIGSEGV || r == OOM || r == HWPOISON;
    }
}
