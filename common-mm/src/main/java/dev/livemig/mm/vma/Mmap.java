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

/**
 * Mirrors mm/mmap.c, mm/vma.c, mm/mprotect.c (mprotect_fixup) and mm/madvise.c: the
 * syscalls that change the vma layout. Addresses are handed out bottom-up, each mapping
 * 2 MiB aligned and followed by a 2 MiB gap, so mappings never share a page table.
 */
public final class Mmap {
    public static final int PROT_NONE = 0;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;

    public enum Advice { DONTNEED, REMOVE, POPULATE_READ, POPULATE_WRITE, HUGEPAGE, NOHUGEPAGE, COLLAPSE }

    private Mmap() {
    }

    static long protFlags(int prot) {
        long f = 0;
        if ((prot & PROT_READ) != 0) f |= VmFlags.VM_READ;
        if ((prot & PROT_WRITE) != 0) f |= VmFlags.VM_WRITE;
        return f;
    }

    /** mmap(): maps {@code len} bytes; {@code file == null} is private anonymous memory. */
    public static long mmap(MmStruct mm, long len, int prot, boolean shared, AddressSpace file, long pgoff,
                            long extraFlags) {
        return doMmap(mm, -1, len, prot, shared, file, pgoff, extraFlags);
    }

    /**
     * mmap(addr, MAP_FIXED_NOREPLACE): maps exactly at {@code addr}, EEXIST if any vma is
     * in the way. A migration target uses it to rebuild the source's layout.
     */
    public static long mmapFixedNoreplace(MmStruct mm, long addr, long len, int prot, boolean shared,
                                          AddressSpace file, long pgoff, long extraFlags) {
        if ((addr & (PAGE_SIZE - 1)) != 0 || addr <= 0 || addr + len > TASK_SIZE) {
            throw new KernelException(Errno.EINVAL);
        }
        return doMmap(mm, addr, len, prot, shared, file, pgoff, extraFlags);
    }

    private static long doMmap(MmStruct mm, long fixedAddr, long len, int prot, boolean shared, AddressSpace file,
                               long pgoff, long extraFlags) {
        if (len <= 0 || (len & (PAGE_SIZE - 1)) != 0 || len > TASK_SIZE) {
            throw new KernelException(Errno.EINVAL);
        }
        if (file != null && file.isHugetlb() && (len & (PMD_SIZE - 1)) != 0) {
            throw new KernelException(Errno.EINVAL);
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
            if (fixedAddr < 0) {
                addr = mm.allocArea(len);
            } else {
                if (file != null && file.isHugetlb() && (fixedAddr & (PMD_SIZE - 1)) != 0) {
                    throw new KernelException(Errno.EINVAL);
                }
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

    static void checkRange(long start, long len) {
        if ((start & (PAGE_SIZE - 1)) != 0 || len <= 0 || start + len > TASK_SIZE || start + len < start) {
            throw new KernelException(Errno.EINVAL);
        }
    }

    /** munmap(). */
    public static void munmap(MmStruct mm, long start, long len) {
        checkRange(start, len);
        len = (len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        long end = start + len;
        List<UserfaultfdCtx> unmapCtxs;
        mm.mmapLock().writeLock().lock();
        mm.kernel().pageTableLock().lock();
        try {
            List<Vma> vmas = mm.vmas().range(start, end);
            unmapCtxs = Userfaultfd.unmapPrep(vmas);
            for (Vma v : vmas) {
                if (v.isHugetlb() && (((start & ~PMD_MASK) != 0 && v.contains(start))
                        || ((end & ~PMD_MASK) != 0 && v.contains(end)))) {
                    throw new KernelException(Errno.EINVAL);
                }
            }
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
            mm.kernel().pageTableLock().unlock();
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
            if (t != null) {
                int i = dev.livemig.mm.MmConstants.pmdIndex(a);
                mm.pgtable().freePteTable(t, i);
                t.pmd[i] = 0;
            }
        }
    }

    /** mprotect(). */
    public static void mprotect(MmStruct mm, long start, long len, int prot) {
        checkRange(start, len);
        long end = start + ((len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
        long newBits = protFlags(prot);
        mm.mmapLock().writeLock().lock();
        try {
            List<Vma> vmas = mm.vmas().range(start, end);
            if (vmas.isEmpty()) {
                throw new KernelException(Errno.ENOMEM);
            }
            long cursor = start;
            for (Vma v : vmas) {
                if (v.start > cursor) {
                    throw new KernelException(Errno.ENOMEM);
                }
                if ((newBits & VmFlags.VM_WRITE) != 0 && (v.flags & VmFlags.VM_MAYWRITE) == 0) {
                    throw new KernelException(Errno.EACCES);
                }
                cursor = v.end;
            }
            if (cursor < end) {
                throw new KernelException(Errno.ENOMEM);
            }
            for (Vma v : vmas) {
                Vma piece = mm.vmas().isolate(v, Math.max(start, v.start), Math.min(end, v.end));
                long old = piece.flags;
                piece.flags = (old & ~(VmFlags.VM_READ | VmFlags.VM_WRITE)) | newBits;
                if (piece.flags != old) {
                    int cp = Mprotect.wantsManualPteWriteUpgrade(piece) ? Mprotect.CP_TRY_CHANGE_WRITABLE : 0;
                    Mprotect.changeProtection(piece, piece.start, piece.end, cp);
                }
                mm.vmas().mergeAround(piece);
            }
        } finally {
            mm.mmapLock().writeLock().unlock();
        }
    }

    /** madvise(). */
    public static void madvise(MmStruct mm, long start, long len, Advice advice) {
        if ((start & (PAGE_SIZE - 1)) != 0 || len < 0) {
            throw new KernelException(Errno.EINVAL);
        }
        long end = start + ((len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
        if (end < start) {
            throw new KernelException(Errno.EINVAL);
        }
        if (end == start) {
            return;
        }
        if (advice == Advice.POPULATE_READ || advice == Advice.POPULATE_WRITE) {
            Madvise.populate(mm, start, end, advice == Advice.POPULATE_WRITE);
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
                        Vma piece = mm.vmas().isolate(v, s, e);
                        long set = advice == Advice.HUGEPAGE ? VmFlags.VM_HUGEPAGE : VmFlags.VM_NOHUGEPAGE;
                        long clear = advice == Advice.HUGEPAGE ? VmFlags.VM_NOHUGEPAGE : VmFlags.VM_HUGEPAGE;
                        piece.flags = (piece.flags & ~clear) | set;
                        mm.vmas().mergeAround(piece);
                    }
                    case COLLAPSE -> Madvise.collapse(mm, v, s, e);
                    default -> throw new IllegalStateException();
                }
                cursor = e;
            }
            if (unmapped || cursor < end) {
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
