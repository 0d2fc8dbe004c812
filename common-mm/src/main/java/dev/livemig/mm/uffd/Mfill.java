package dev.livemig.mm.uffd;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.pmdIndex;
import static dev.livemig.mm.MmConstants.pteIndex;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.fault.Mprotect;
import dev.livemig.mm.hugetlb.Hugetlb;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.page.Rmap;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.vma.Vma;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors mm/userfaultfd.c: mfill_atomic() behind UFFDIO_COPY / ZEROPAGE / CONTINUE /
 * POISON, and mwriteprotect_range() behind UFFDIO_WRITEPROTECT. Results follow the
 * kernel: bytes done if any page was filled, otherwise the negative errno of the first
 * failure.
 */
public final class Mfill {
    public enum Kind { COPY, ZEROPAGE, CONTINUE, POISON }

    private Mfill() {
    }

    /** mfill_atomic(): bytes filled (&gt; 0) or a negative errno. */
    static long mfillAtomic(UserfaultfdCtx ctx, long dst, long len, Kind kind, boolean wp, PageSource src) {
        MmStruct mm = ctx.mm;
        mm.mmapLock().readLock().lock();
        try {
            Vma vma = mm.vmas().lookup(dst);
            if (vma == null) {
                return -Errno.ENOENT.value();
            }
            if (!vma.isShared()) {
                vma.anonVmaPrepare(); // uffd_mfill_lock() -> anon_vma_prepare()
            }
            if (dst + len > vma.end || vma.uffdCtx == null) {
                return -Errno.ENOENT.value();
            }
            if (wp && !vma.uffdWp()) {
                return -Errno.EINVAL.value();
            }
            if (vma.isHugetlb()) {
                return mfillAtomicHugetlb(vma, dst, len, kind, wp, src);
            }
            if (!vma.isAnonymous() && !vma.isShmem()) {
                return -Errno.EINVAL.value();
            }
            if (!vma.isShmem() && kind == Kind.CONTINUE) {
                return -Errno.EINVAL.value();
            }
            return mfillAtomicPtes(vma, dst, len, kind, wp, src);
        } finally {
            mm.mmapLock().readLock().unlock();
        }
    }

    /**
     * The page loop of mfill_atomic(). Each page is placed under the split lock of its PMD
     * slot; the lock is kept from one page to the next within a slot and dropped when the
     * loop moves on, so one slot's lock is held at a time and the guest keeps running in
     * every other slot.
     */
    private static long mfillAtomicPtes(Vma vma, long dst, long len, Kind kind, boolean wp, PageSource src) {
        MmStruct mm = vma.mm;
        long done = 0;
        int err = 0;
        ReentrantLock held = null;
        try {
            for (long addr = dst; addr < dst + len; addr += PAGE_SIZE) {
                ReentrantLock ptl = mm.pgtable().ptlock(addr);
                if (ptl != held) {
                    if (held != null) {
                        held.unlock();
                        held = null;
                    }
                    ptl.lock();
                    held = ptl;
                }
                PmdTable t = mm.pgtable().pmdTable(addr, true);
                int i = pmdIndex(addr);
                if (!t.isTable(i) && t.pmd[i] != 0) {
                    err = -Errno.EEXIST.value();
                    break;
                }
                long[] tbl = mm.pgtable().pteAlloc(addr);
                err = mfillAtomicPte(vma, tbl, addr, kind, wp, src, done >>> 12);
                if (err != 0) {
                    break;
                }
                done += PAGE_SIZE;
            }
        } finally {
            if (held != null) {
                held.unlock();
            }
        }
        return done > 0 ? done : err;
    }

    /** mfill_file_over_size(). */
    static boolean overSize(Vma vma, long addr) {
        return vma.file != null && vma.pgoffOf(addr) >= vma.file.sizePages();
    }

    static int mfillAtomicPte(Vma vma, long[] tbl, long addr, Kind kind, boolean wp, PageSource src, long srcIndex) {
        PhysMem pm = vma.mm.kernel().physMem();
        int idx = pteIndex(addr);
        switch (kind) {
            case CONTINUE: {
                long pfn = vma.file.lookupGet(vma.pgoffOf(addr));
                if (pfn < 0) {
                    return -Errno.EFAULT.value();
                }
                return installPte(vma, tbl, idx, addr, pfn, true, wp);
            }
            case POISON:
                if (overSize(vma, addr)) {
                    return -Errno.EFAULT.value();
                }
                if (tbl[idx] != 0) {
                    return -Errno.EEXIST.value();
                }
                tbl[idx] = Pte.mkMarker(Pte.MARKER_POISONED);
                return 0;
            default:
                break;
        }
        if (!vma.isShared()) {
            if (kind == Kind.COPY) {
                long pfn = pm.allocFolio(0, 0, !src.fillsPage());
                if (pfn < 0) {
                    return -Errno.ENOMEM.value();
                }
                src.copyTo(srcIndex, pm, pfn);
                int r = installPte(vma, tbl, idx, addr, pfn, false, wp);
                if (r != 0) {
                    Folio.put(pm, pfn);
                }
                return r;
            }
            // mfill_atomic_pte_zeropage(): the zero page never overwrites a marker
            if (overSize(vma, addr)) {
                return -Errno.EFAULT.value();
            }
            if (tbl[idx] != 0) {
                return -Errno.EEXIST.value();
            }
            tbl[idx] = Pte.mkSpecial(Pte.pfnPte(pm.zeroPfn));
            return 0;
        }
        // shmem_mfill_atomic_pte()
        AddressSpace f = vma.file;
        long pgoff = vma.pgoffOf(addr);
        if (pgoff >= f.sizePages()) {
            return -Errno.EFAULT.value();
        }
        long pfn = pm.allocFolio(0, 0, kind != Kind.COPY || !src.fillsPage());
        if (pfn < 0) {
            return -Errno.ENOMEM.value();
        }
        if (kind == Kind.COPY) {
            src.copyTo(srcIndex, pm, pfn);
        }
        Folio.set(pm, pfn, Folio.DIRTY);
        Folio.get(pm, pfn); // the mapping's, taken before the cache's can be dropped by a truncation
        if (!f.add(pgoff, pfn)) {
            Folio.put(pm, pfn, 2);
            return -Errno.EEXIST.value();
        }
        int r = installPte(vma, tbl, idx, addr, pfn, true, wp);
        if (r != 0) {
            f.remove(pgoff);
            Folio.put(pm, pfn, 2);
        }
        return r;
    }

    /** mfill_atomic_install_pte(): the caller's folio reference becomes the mapping's. */
    static int installPte(Vma vma, long[] tbl, int idx, long addr, long pfn, boolean pageInCache, boolean wp) {
        PhysMem pm = vma.mm.kernel().physMem();
        boolean writable = (vma.flags & VmFlags.VM_WRITE) != 0;
        if (pageInCache && !vma.isShared()) {
            writable = false;
        }
        long entry = Pte.mkDirty(Pte.pfnPte(pfn));
        if (writable) {
            entry = Pte.mkWrite(entry);
        }
        if (wp) {
            entry = Pte.mkUffdWp(entry);
        }
        if (overSize(vma, addr)) {
            if (pageInCache) {
                Folio.put(pm, pfn);
            }
            return -Errno.EFAULT.value();
        }
        if (!Pte.noneMostly(tbl[idx])) {
            if (pageInCache) {
                Folio.put(pm, pfn);
            }
            return -Errno.EEXIST.value();
        }
        if (pageInCache) {
            Rmap.addPte(pm, pfn);
        } else {
            Rmap.addNewAnon(pm, pfn);
        }
        tbl[idx] = entry;
        return 0;
    }

    /** mfill_atomic_hugetlb(). */
    static long mfillAtomicHugetlb(Vma vma, long dst, long len, Kind kind, boolean wp, PageSource src) {
        if (kind == Kind.ZEROPAGE) {
            return -Errno.EINVAL.value();
        }
        if ((dst & (PMD_SIZE - 1)) != 0 || (len & (PMD_SIZE - 1)) != 0) {
            return -Errno.EINVAL.value();
        }
        long done = 0;
        int err = 0;
        for (long addr = dst; addr < dst + len; addr += PMD_SIZE) {
            ReentrantLock ptl = vma.mm.pgtable().ptlock(addr);
            ptl.lock();
            try {
                err = mfillAtomicHugetlbEntry(vma, addr, kind, wp, src, done >>> 12);
            } finally {
                ptl.unlock();
            }
            if (err != 0) {
                break;
            }
            done += PMD_SIZE;
        }
        return done > 0 ? done : err;
    }

    /** One huge page of mfill_atomic_hugetlb(); the slot's split lock is held. 0 or a negative errno. */
    private static int mfillAtomicHugetlbEntry(Vma vma, long addr, Kind kind, boolean wp, PageSource src,
                                               long srcIndex) {
        PhysMem pm = vma.mm.kernel().physMem();
        AddressSpace f = vma.file;
        boolean shared = vma.isShared();
        PmdTable t = vma.mm.pgtable().pmdTable(addr, true);
        int i = pmdIndex(addr);
        long idx = Hugetlb.hugeIndex(vma, addr);
        if (kind != Kind.CONTINUE && !Pte.noneMostly(t.pmd[i])) {
            return -Errno.EEXIST.value();
        }
        if (kind == Kind.POISON) {
            if (t.pmd[i] != 0) {
                return -Errno.EEXIST.value();
            }
            t.pmd[i] = Pte.mkMarker(Pte.MARKER_POISONED);
            return 0;
        }
        long head;
        boolean inCache;
        if (kind == Kind.CONTINUE) {
            head = f.lookupGet(idx);
            if (head < 0) {
                return -Errno.EFAULT.value();
            }
            inCache = true;
        } else {
            if (shared && f.lookup(idx) >= 0) {
                return -Errno.EEXIST.value();
            }
            head = vma.mm.kernel().hugetlbPool().alloc(!shared);
            if (head < 0) {
                return -Errno.ENOMEM.value();
            }
            for (int j = 0; j < HPAGE_PMD_NR; j++) {
                src.copyTo(srcIndex + j, pm, head + j);
            }
            inCache = false;
            if (shared) {
                if (idx >= f.sizeIndexes()) {
                    Folio.put(pm, head);
                    return -Errno.EFAULT.value();
                }
                Folio.get(pm, head); // the mapping's, taken before the cache's can be dropped
                if (!f.add(idx, head)) {
                    Folio.put(pm, head, 2); // another mm filled the index since the check
                    return -Errno.EEXIST.value();
                }
                inCache = true;
            }
        }
        if (!Pte.noneMostly(t.pmd[i])) {
            Folio.put(pm, head);
            return -Errno.EEXIST.value();
        }
        if (!inCache) {
            Folio.setAnonExclusiveAll(pm, head, true);
        }
        Folio.addEntireMapping(pm, head, 1);
        boolean mkwrite = !wp && !(kind == Kind.CONTINUE && !shared);
        long entry = Pte.mkHuge(Pte.pfnPte(head));
        if (mkwrite && (vma.flags & VmFlags.VM_WRITE) != 0) {
            entry = Pte.mkWrite(entry);
        }
        entry = Pte.mkYoung(Pte.mkDirty(entry));
        if (wp) {
            entry = Pte.mkUffdWp(entry);
        }
        t.pmd[i] = entry;
        return 0;
    }

    /** mwriteprotect_range(). */
    static void mwriteprotectRange(UserfaultfdCtx ctx, long start, long len, boolean enable) {
        MmStruct mm = ctx.mm;
        long end = start + len;
        mm.mmapLock().readLock().lock();
        try {
            List<Vma> vmas = mm.vmas().range(start, end);
            if (vmas.isEmpty()) {
                throw new KernelException(Errno.ENOENT);
            }
            for (Vma v : vmas) {
                if (!v.uffdWp()) {
                    throw new KernelException(Errno.ENOENT);
                }
                if (v.isHugetlb() && ((start & (PMD_SIZE - 1)) != 0 || (len & (PMD_SIZE - 1)) != 0)) {
                    throw new KernelException(Errno.EINVAL);
                }
                Mprotect.uffdWpRange(v, Math.max(v.start, start), Math.min(v.end, end), enable);
            }
        } finally {
            mm.mmapLock().readLock().unlock();
        }
    }
}
