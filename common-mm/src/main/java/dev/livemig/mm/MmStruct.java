package dev.livemig.mm;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_SIZE;

import dev.livemig.mm.fault.Fork;
import dev.livemig.mm.fault.Memory;
import dev.livemig.mm.fault.VmFault;
import dev.livemig.mm.fault.Zap;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.pgtable.PageTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import dev.livemig.mm.vma.Vma;
import dev.livemig.mm.vma.VmaTree;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors struct mm_struct (include/linux/mm_types.h) together with the CPU side of a
 * memory access (arch/x86/mm/fault.c do_user_addr_fault): one simulated process.
 *
 * <p>A guest load or store first looks at the page table under the split lock of its
 * PMD slot ({@link PageTable#ptlock}), like a TLB fill: if the entry allows the access
 * the bytes are read or written in the frame while the lock is held, so a concurrent
 * write-protect or PAGEMAP_SCAN of that slot never loses a store. Otherwise the access
 * takes the fault path ({@link Memory}: mmap_lock for read, then the slot's lock) and
 * is retried, sleeping first with no lock held if a userfaultfd monitor must resolve it.
 * Accesses to different slots, and faults in different slots, run in parallel.
 */
public final class MmStruct {
    private final Kernel kernel;
    private final int pid;
    private final PageTable pgtable = new PageTable();
    private final VmaTree vmas = new VmaTree();
    private final MmapLock mmapLock = new MmapLock();
    private final PhysMem pm;
    private static final long MMAP_BASE = 0x10_0000_0000L;
    private long mmapNext = MMAP_BASE;

    MmStruct(Kernel kernel, int pid) {
        this.kernel = kernel;
        this.pid = pid;
        this.pm = kernel.physMem();
    }

    public Kernel kernel() {
        return kernel;
    }

    public int pid() {
        return pid;
    }

    public PageTable pgtable() {
        return pgtable;
    }

    public VmaTree vmas() {
        return vmas;
    }

    /** mm->mmap_lock: read for faults and page-table walks, write for changes to the vmas. */
    public MmapLock mmapLock() {
        return mmapLock;
    }

    /**
     * get_unmapped_area(): 2 MiB aligned, bottom-up, with a 2 MiB guard gap. When the
     * bump pointer has been pushed to the top (a MAP_FIXED mapping near TASK_SIZE), the
     * lowest gap that fits is used instead, as vm_unmapped_area() would find one; ENOMEM
     * when none does. Caller holds the mmap write lock.
     */
    public long allocArea(long len) {
        long addr = mmapNext;
        if (addr + len + PMD_SIZE > MmConstants.TASK_SIZE || !vmas.range(addr, addr + len + PMD_SIZE).isEmpty()) {
            addr = firstGap(len);
        }
        long next = (addr + len + 2 * PMD_SIZE - 1) & ~(PMD_SIZE - 1);
        if (next > mmapNext) {
            mmapNext = next;
        }
        return addr;
    }

    private long firstGap(long len) {
        long addr = MMAP_BASE;
        for (Vma v : vmas.all()) {
            if (v.end <= addr) {
                continue;
            }
            if (v.start >= addr + len + PMD_SIZE) {
                return addr;
            }
            addr = (v.end + 2 * PMD_SIZE - 1) & ~(PMD_SIZE - 1);
        }
        if (addr + len + PMD_SIZE > MmConstants.TASK_SIZE) {
            throw new KernelException(Errno.ENOMEM);
        }
        return addr;
    }

    /** Keeps later get_unmapped_area() calls clear of a MAP_FIXED mapping. */
    public void reserveArea(long addr, long len) {
        long next = (addr + len + 2 * PMD_SIZE - 1) & ~(PMD_SIZE - 1);
        if (next > mmapNext) {
            mmapNext = next;
        }
    }

    /** The child inherits the address allocator so that its layout matches. */
    public void copyLayoutFrom(MmStruct parent) {
        this.mmapNext = parent.mmapNext;
    }

    // ---- syscalls -------------------------------------------------------------------

    public long mmap(long len, int prot, boolean shared, dev.livemig.mm.page.AddressSpace file, long pgoff,
                     long extraFlags) {
        return Mmap.mmap(this, len, prot, shared, file, pgoff, extraFlags);
    }

    /** mmap(addr, ..., MAP_FIXED_NOREPLACE). */
    public long mmapFixedNoreplace(long addr, long len, int prot, boolean shared,
                                   dev.livemig.mm.page.AddressSpace file, long pgoff, long extraFlags) {
        return Mmap.mmapFixedNoreplace(this, addr, len, prot, shared, file, pgoff, extraFlags);
    }

    public void munmap(long addr, long len) {
        Mmap.munmap(this, addr, len);
    }

    public void mprotect(long addr, long len, int prot) {
        Mmap.mprotect(this, addr, len, prot);
    }

    public void madvise(long addr, long len, Mmap.Advice advice) {
        Mmap.madvise(this, addr, len, advice);
    }

    /** fork(): a copy-on-write child address space. */
    public MmStruct fork() {
        return Fork.fork(this);
    }

    /**
     * exit_mmap(): the last user is gone. Every mapping is zapped (markers too), the vmas
     * leave their files' i_mmap and all page tables are freed, so the only frames left
     * behind belong to page caches.
     */
    public void exit() {
        mmapLock.writeLock().lock();
        try {
            for (Vma v : vmas.all()) {
                Zap.zapRange(v, v.start, v.end, Zap.Details.TEARDOWN);
                if (v.file != null) {
                    v.file.removeMapping(v);
                }
                vmas.remove(v);
            }
            pgtable.freeAll();
        } finally {
            mmapLock.writeLock().unlock();
        }
        kernel.mmExited(this);
    }

    /** userfaultfd(2): a new, uninitialised context (UFFDIO_API comes next). */
    public UserfaultfdCtx userfaultfd() {
        return new UserfaultfdCtx(this);
    }

    // ---- guest memory access -------------------------------------------------------

    /** The frame and entry behind {@code addr}, from a PTE or a huge PMD. */
    private long leafPfn(long entry, long addr) {
        long pfn = Pte.pfn(entry);
        return Pte.huge(entry) ? pfn + ((addr >>> 12) & 511) : pfn;
    }

    /** A guest 64-bit load. */
    public long readLong(long addr) {
        for (;;) {
            ReentrantLock ptl = pgtable.ptlock(addr);
            ptl.lock();
            try {
                long e = pgtable.lookup(addr);
                if (Pte.accessible(e)) {
                    return pm.getLong(leafPfn(e, addr), (int) (addr & (PAGE_SIZE - 1)));
                }
            } finally {
                ptl.unlock();
            }
            fault(addr, false);
        }
    }

    /** A guest 64-bit store. */
    public void writeLong(long addr, long value) {
        for (;;) {
            ReentrantLock ptl = pgtable.ptlock(addr);
            ptl.lock();
            try {
                if (tryStore(addr, value)) {
                    return;
                }
            } finally {
                ptl.unlock();
            }
            fault(addr, true);
        }
    }

    private boolean tryStore(long addr, long value) {
        long e = pgtable.lookup(addr);
        if (!Pte.accessible(e) || !Pte.write(e)) {
            return false;
        }
        if (!Pte.dirty(e)) {
            markDirty(addr);
        }
        pm.putLong(leafPfn(e, addr), (int) (addr & (PAGE_SIZE - 1)), value);
        return true;
    }

    /** The hardware sets the dirty bit on the first store through a clean writable entry (slot lock held). */
    private void markDirty(long addr) {
        long[] tbl = pgtable.pteTable(addr);
        if (tbl != null) {
            tbl[MmConstants.pteIndex(addr)] |= Pte.DIRTY;
        } else {
            var t = pgtable.pmdTable(addr, false);
            t.pmd[MmConstants.pmdIndex(addr)] |= Pte.DIRTY;
        }
    }

    /**
     * Whether a present entry maps {@code addr} (follow_pte() and pte_present(), as
     * {@link #readPage} would find it without faulting): the entry's split lock only, no
     * mmap lock, no VMA lookup and nothing allocated, for a migration that asks this of
     * every page it sends. Faults nothing in.
     */
    public boolean pageMapped(long addr) {
        addr &= MmConstants.PAGE_MASK;
        ReentrantLock ptl = pgtable.ptlock(addr);
        ptl.lock();
        try {
            return Pte.accessible(pgtable.lookup(addr));
        } finally {
            ptl.unlock();
        }
    }

    /** Copies a whole guest page out (a load of 4 KiB), faulting it in for read. */
    public void readPage(long addr, byte[] dst, int off) {
        addr &= MmConstants.PAGE_MASK;
        for (;;) {
            ReentrantLock ptl = pgtable.ptlock(addr);
            ptl.lock();
            try {
                long e = pgtable.lookup(addr);
                if (Pte.accessible(e)) {
                    pm.readFrame(leafPfn(e, addr), dst, off);
                    return;
                }
            } finally {
                ptl.unlock();
            }
            fault(addr, false);
        }
    }

    /**
     * do_user_addr_fault(): checks the vma, runs handle_mm_fault(), and sleeps on a
     * userfaultfd if the fault was handed to a monitor. Throws {@link SignalException}.
     */
    void fault(long addr, boolean write) {
        int r = faultOnce(addr, write);
        if (r == VmFault.SIGSEGV) {
            throw new SignalException(SignalException.Signal.SIGSEGV, addr);
        }
        if (VmFault.isError(r)) {
            throw new SignalException(SignalException.Signal.SIGBUS, addr);
        }
    }

    private int faultOnce(long addr, boolean write) {
        VmFault vmf;
        int r;
        mmapLock.readLock().lock();
        try {
            Vma vma = vmas.lookup(addr);
            if (vma == null) {
                return VmFault.SIGSEGV;
            }
            long need = write ? VmFlags.VM_WRITE : VmFlags.VM_READ;
            if ((vma.flags & need) == 0) {
                return VmFault.SIGSEGV;
            }
            vmf = new VmFault(vma, addr, write);
            ReentrantLock ptl = pgtable.ptlock(addr);
            ptl.lock();
            try {
                r = Memory.handleMmFault(vmf);
            } finally {
                ptl.unlock();
            }
        } finally {
            mmapLock.readLock().unlock();
        }
        if (vmf.waiter != null) {
            vmf.waiter.await();
        }
        return r;
    }

    /**
     * One step of GUP (faultin_page): makes sure {@code addr} is mapped for the access,
     * faulting as needed. Returns false on a signal-type failure.
     */
    public boolean gupFaultIn(long addr, boolean write) {
        for (;;) {
            ReentrantLock ptl = pgtable.ptlock(addr);
            ptl.lock();
            try {
                long e = pgtable.lookup(addr);
                if (Pte.accessible(e) && (!write || Pte.write(e))) {
                    return true;
                }
            } finally {
                ptl.unlock();
            }
            int r = faultOnce(addr, write);
            if (VmFault.isError(r)) {
                return false;
            }
        }
    }

    @Override
    public String toString() {
        return "mm(pid=" + pid + ")";
    }
}
