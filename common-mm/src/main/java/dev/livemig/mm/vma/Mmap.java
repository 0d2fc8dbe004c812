package dev.livemig.mm.vma;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_MASK;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.TASK_SIZE;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.fault.Mprotect;
import dev.livemig.mm.fault.Zap;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.uffd.Userfaultfd;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors mm/mmap.c, mm/vma.c, mm/mprotect.c (mprotect_fixup) and mm/madvise.c: the
 * syscalls that change the vma layout. Addresses are handed out bottom-up, each mapping
 * 2 MiB aligned and followed by a 2 MiB gap, so mappings never share a page table.
 */
public final class Mmap {
    public static final int PROT_NONE = 0;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int PROT_EXEC = 4;
    public static final int PROT_SEM = 8;
    public static final int PROT_GROWSDOWN = 0x0100_0000;
    public static final int PROT_GROWSUP = 0x0200_0000;
    /** The default vm.mmap_min_addr: below it a caller without CAP_SYS_RAWIO gets EPERM. */
    public static final long MMAP_MIN_ADDR = 65536;

    public enum Advice { DONTNEED, REMOVE, POPULATE_READ, POPULATE_WRITE, HUGEPAGE, NOHUGEPAGE, COLLAPSE }

    private Mmap() {
    }

    static long protFlags(int prot) {
        long f = 0;
        if ((prot & PROT_READ) != 0) f |= VmFlags.VM_READ;
        if ((prot & PROT_WRITE) != 0) f |= VmFlags.VM_WRITE;
        if ((prot & PROT_EXEC) != 0) f |= VmFlags.VM_EXEC;
        return f;
    }

    /** mmap(): maps {@code len} bytes; {@code file == null} is private anonymous memory. */
    public static long mmap(MmStruct mm, long len, int prot, boolean shared, AddressSpace file, long pgoff,
                            long extraFlags) {
        return doMmap(mm, false, 0, len, prot, shared, file, pgoff, extraFlags);
    }

    /**
     * mmap(addr, MAP_FIXED_NOREPLACE): maps exactly at {@code addr}, EEXIST if any vma is
     * in the way. A migration target uses it to rebuild the source's layout.
     */
    public static long mmapFixedNoreplace(MmStruct mm, long addr, long len, int prot, boolean shared,
                                          AddressSpace file, long pgoff, long extraFlags) {
        return doMmap(mm, true, addr, len, prot, shared, file, pgoff, extraFlags);
    }

    /** PAGE_ALIGN() of a size_t: 0 when {@code len} was within a page of 2^64. */
    static long pageAlign(long len) {
        return (len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    }

    /**
     * do_mmap() then __get_unmapped_area(), in their order: len 0 is EINVAL, a length that
     * page-aligns to 0 or exceeds TASK_SIZE is ENOMEM (len is rounded up, not rejected); a
     * fixed address must leave room below TASK_SIZE (ENOMEM), be aligned (EINVAL) and be at
     * least mmap_min_addr (EPERM, cap_mmap_addr for an unprivileged caller).
     */
    private static long doMmap(MmStruct mm, boolean fixed, long fixedAddr, long len, int prot, boolean shared,
                               AddressSpace file, long pgoff, long extraFlags) {
        if (len == 0) {
            throw new KernelException(Errno.EINVAL);
        }
        len = pageAlign(len);
        if (len == 0) {
            throw new KernelException(Errno.ENOMEM);
        }
        if (file != null && file.isHugetlb() && (len & (PMD_SIZE - 1)) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        if (Long.compareUnsigned(len, TASK_SIZE) > 0) {
            throw new KernelException(Errno.ENOMEM);
        }
        if (fixed) {
            if (file != null && file.isHugetlb() && (fixedAddr & (PMD_SIZE - 1)) != 0) {
                throw new KernelException(Errno.EINVAL);
            }
            if (Long.compareUnsigned(fixedAddr, TASK_SIZE - len) > 0) {
                throw new KernelException(Errno.ENOMEM);
            }
            if ((fixedAddr & (PAGE_SIZE - 1)) != 0) {
                throw new KernelException(Errno.EINVAL);
            }
            if (fixedAddr < MMAP_MIN_ADDR) {
                throw new KernelException(Errno.EPERM);
            }
        }
        long flags = protFlags(prot) | VmFlags.VM_MAYREAD | VmFlags.VM_MAYWRITE | VmFlags.VM_MAYEXEC | extraFlags;
        if (shared) {
            flags |= VmFlags.VM_SHARED | VmFlags.VM_MAYSHARE;
        }
        if (file != null && file.isHugetlb()) {
            flags |= VmFlags.VM_HUGETLB;
        }
        if (mm.kernel().softDirtyEnabled()) {
            flags |= VmFlags.VM_SOFTDIRTY;
        }
        mm.mmapLock().writeLock().lock();
        try {
            long addr;
            if (!fixed) {
                addr = mm.allocArea(len);
            } else {
                if (!mm.vmas().range(fixedAddr, fixedAddr + len).isEmpty()) {
                    throw new KernelException(Errno.EEXIST);
                }
                addr = fixedAddr;
                mm.reserveArea(addr, len);
            }
            Vma vma = new Vma(mm, addr, addr + len, flags, file == null ? addr >>> 12 : pgoff, file);
            mm.vmas().insert(vma);
            if (file != null) {
                file.addMapping(vma);
            }
            return addr;
        } finally {
            mm.mmapLock().writeLock().unlock();
        }
    }

    /** munmap() (do_vmi_munmap): addresses and lengths are unsigned, as in the kernel. */
    public static void munmap(MmStruct mm, long start, long len) {
        if ((start & (PAGE_SIZE - 1)) != 0 || Long.compareUnsigned(start, TASK_SIZE) > 0
                || Long.compareUnsigned(len, TASK_SIZE - start) > 0) {
            throw new KernelException(Errno.EINVAL);
        }
        long end = start + pageAlign(len);
        if (end == start) {
            throw new KernelException(Errno.EINVAL);
        }
        List<UserfaultfdCtx> unmapCtxs;
        mm.mmapLock().writeLock().lock();
        try {
            List<Vma> vmas = mm.vmas().range(start, end);
            for (Vma v : vmas) {
                if (v.isHugetlb() && (((start & ~PMD_MASK) != 0 && v.contains(start))
                        || ((end & ~PMD_MASK) != 0 && v.contains(end)))) {
                    throw new KernelException(Errno.EINVAL);
                }
            }
            // vms_gather_munmap_vmas(): the splits that can fail come before
            // userfaultfd_unmap_prep(), so a failed munmap leaves mmap_changing alone
            unmapCtxs = Userfaultfd.unmapPrep(vmas);
            for (Vma v : vmas) {
                Vma piece = mm.vmas().isolate(v, Math.max(start, v.start), Math.min(end, v.end));
                Zap.zapRange(piece, piece.start, piece.end, Zap.Details.TEARDOWN);
                mm.vmas().remove(piece);
                if (piece.file != null) {
                    piece.file.removeMapping(piece);
                }
            }
            freePgtables(mm, start, end);
        } finally {
            mm.mmapLock().writeLock().unlock();
        }
        Userfaultfd.unmapComplete(unmapCtxs, start, end);
    }

    /** free_pgtables(): drops PTE tables no remaining vma uses. */
    static void freePgtables(MmStruct mm, long start, long end) {
        for (long a = start & PMD_MASK; a < end; a += PMD_SIZE) {
            if (!mm.vmas().range(a, a + PMD_SIZE).isEmpty()) {
                continue;
            }
            PmdTable t = mm.pgtable().pmdTable(a, false);
            if (t == null) {
                continue;
            }
            ReentrantLock ptl = mm.pgtable().ptlock(a);
            ptl.lock();
            try {
                int i = dev.livemig.mm.MmConstants.pmdIndex(a);
                mm.pgtable().freePteTable(t, i);
                t.pmd[i] = 0;
            } finally {
                ptl.unlock();
            }
        }
    }

    /**
     * mprotect() (do_mprotect_pkey): len 0 succeeds without looking, a wrapping range is
     * ENOMEM, unknown prot bits EINVAL, and no vma at {@code start} ENOMEM. Then vmas are
     * changed one by one and the walk stops at the first hole (ENOMEM) or forbidden
     * permission (EACCES): the vmas before it keep their new protection, as in the
     * kernel. x86-64 has no VM_GROWSDOWN/GROWSUP vma here, so either grows flag is EINVAL.
     */
    public static void mprotect(MmStruct mm, long start, long len, int prot) {
        int grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        prot &= ~grows;
        if (grows == (PROT_GROWSDOWN | PROT_GROWSUP) || (start & (PAGE_SIZE - 1)) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        if (len == 0) {
            return;
        }
        long end = start + pageAlign(len);
        if (Long.compareUnsigned(end, start) <= 0) {
            throw new KernelException(Errno.ENOMEM);
        }
        if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        long newBits = protFlags(prot);
        mm.mmapLock().writeLock().lock();
        try {
            // the walk stops at TASK_SIZE: no vma lies above it
            long hi = Long.compareUnsigned(end, TASK_SIZE) > 0 ? TASK_SIZE : end;
            Vma v = Long.compareUnsigned(start, TASK_SIZE) < 0 ? firstVma(mm, start, hi) : null;
            if (v == null || v.start > start) {
                throw new KernelException(Errno.ENOMEM);
            }
            if (grows != 0) {
                throw new KernelException(Errno.EINVAL);
            }
            long tmp = start;
            while (v != null) {
                // a vma starting below tmp was merged into the piece just changed
                if (v.start > tmp) {
                    throw new KernelException(Errno.ENOMEM);
                }
                long newFlags = (v.flags & ~(VmFlags.VM_READ | VmFlags.VM_WRITE | VmFlags.VM_EXEC)) | newBits;
                // VM_MAY* sit 4 bits above VM_*: each requested access needs its MAY bit
                if ((newFlags & ~(newFlags >>> 4) & (VmFlags.VM_READ | VmFlags.VM_WRITE | VmFlags.VM_EXEC)) != 0) {
                    throw new KernelException(Errno.EACCES);
                }
                long pieceEnd = Math.min(v.end, hi);
                Vma piece = mm.vmas().isolate(v, Math.max(tmp, v.start), pieceEnd);
                long old = piece.flags;
                piece.flags = newFlags;
                if (newFlags != old) {
                    int cp = Mprotect.wantsManualPteWriteUpgrade(piece) ? Mprotect.CP_TRY_CHANGE_WRITABLE : 0;
                    Mprotect.changeProtection(piece, piece.start, piece.end, cp);
                }
                mm.vmas().mergeAround(piece);
                tmp = pieceEnd;
                v = tmp < hi ? firstVma(mm, tmp, hi) : null;
            }
            if (Long.compareUnsigned(tmp, end) < 0) {
                throw new KernelException(Errno.ENOMEM);
            }
        } finally {
            mm.mmapLock().writeLock().unlock();
        }
    }

    private static Vma firstVma(MmStruct mm, long start, long end) {
        List<Vma> vmas = mm.vmas().range(start, end);
        return vmas.isEmpty() ? null : vmas.get(0);
    }

    /**
     * madvise() (madvise_should_skip, then madvise_walk_vmas): start must be aligned, a
     * length that page-aligns to 0 or a wrapping range is EINVAL, an empty range succeeds.
     * Holes do not stop the walk: every vma in the range is advised, then ENOMEM is
     * returned, so an ENOMEM madvise may have changed the vmas around the hole.
     */
    public static void madvise(MmStruct mm, long start, long len, Advice advice) {
        if ((start & (PAGE_SIZE - 1)) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        long aligned = pageAlign(len);
        if (len != 0 && aligned == 0) {
            throw new KernelException(Errno.EINVAL);
        }
        long end = start + aligned;
        if (Long.compareUnsigned(end, start) < 0) {
            throw new KernelException(Errno.EINVAL);
        }
        if (end == start) {
            return;
        }
        if (Long.compareUnsigned(start, TASK_SIZE) >= 0) {
            throw new KernelException(Errno.ENOMEM);
        }
        boolean beyondTaskSize = Long.compareUnsigned(end, TASK_SIZE) > 0;
        if (beyondTaskSize) {
            end = TASK_SIZE;
        }
        if (advice == Advice.POPULATE_READ || advice == Advice.POPULATE_WRITE) {
            Madvise.populate(mm, start, end, advice == Advice.POPULATE_WRITE);
            if (beyondTaskSize) {
                throw new KernelException(Errno.ENOMEM);
            }
            return;
        }
        boolean write = advice == Advice.HUGEPAGE || advice == Advice.NOHUGEPAGE;
        if (write) {
            mm.mmapLock().writeLock().lock();
        } else {
            mm.mmapLock().readLock().lock();
        }
        try {
            boolean unmapped = false;
            long cursor = start;
            for (Vma v : mm.vmas().range(start, end)) {
                if (v.start > cursor) {
                    unmapped = true;
                }
                long s = Math.max(start, v.start);
                long e = Math.min(end, v.end);
                switch (advice) {
                    case DONTNEED -> Madvise.dontneed(mm, v, s, e);
                    case REMOVE -> Madvise.remove(mm, v, s, e);
                    case HUGEPAGE, NOHUGEPAGE -> {
                        long set = advice == Advice.HUGEPAGE ? VmFlags.VM_HUGEPAGE : VmFlags.VM_NOHUGEPAGE;
                        long clear = advice == Advice.HUGEPAGE ? VmFlags.VM_NOHUGEPAGE : VmFlags.VM_HUGEPAGE;
                        long newFlags = (v.flags & ~clear) | set;
                        // madvise_update_vma(): an unchanged vma is left alone, including
                        // one the previous piece was just merged into (a stale list entry)
                        if (newFlags != v.flags) {
                            Vma piece = mm.vmas().isolate(v, s, e);
                            piece.flags = newFlags;
                            mm.vmas().mergeAround(piece);
                        }
                    }
                    case COLLAPSE -> Madvise.collapse(mm, v, s, e);
                    default -> throw new IllegalStateException();
                }
                cursor = e;
            }
            if (unmapped || cursor < end || beyondTaskSize) {
                throw new KernelException(Errno.ENOMEM);
            }
        } finally {
            if (write) {
                mm.mmapLock().writeLock().unlock();
            } else {
                mm.mmapLock().readLock().unlock();
            }
        }
    }

    /** Drops a file's cache pages in {@code [first, last]} (truncate_inode_pages_range). */
    static void truncatePages(MmStruct mm, AddressSpace f, long first, long last) {
        for (long idx = first; idx <= last; idx++) {
            long pfn = f.remove(idx);
            if (pfn >= 0) {
                Folio.put(mm.kernel().physMem(), pfn);
            }
        }
    }
}
