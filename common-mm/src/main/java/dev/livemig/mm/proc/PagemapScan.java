package dev.livemig.mm.proc;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_MASK;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.TASK_SIZE;
import static dev.livemig.mm.MmConstants.pmdIndex;
import static dev.livemig.mm.MmConstants.pteIndex;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.VmFlags;
import dev.livemig.mm.fault.HugeMemory;
import dev.livemig.mm.fault.Memory;
import dev.livemig.mm.fault.Mprotect;
import dev.livemig.mm.page.Folio;
import dev.livemig.mm.page.PhysMem;
import dev.livemig.mm.pgtable.PmdTable;
import dev.livemig.mm.pgtable.Pte;
import dev.livemig.mm.vma.Vma;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mirrors the PAGEMAP_SCAN ioctl of fs/proc/task_mmu.c (do_pagemap_scan and the
 * pagemap_scan_* walk callbacks), including the July 2026 fixes present on the recording
 * kernel: none ptes report WRITTEN, and PMD holes report WRITTEN inside uffd-wp vmas only.
 *
 * <p>With PM_SCAN_WP_MATCHING each reported written page is re-protected under the same
 * split page-table lock (its PMD slot's) that observed it, so a racing guest store is either
 * reported now or faults after the re-protection and is reported by the next scan: no
 * write is lost. Other slots stay free for the guest while the walk is elsewhere.
 */
public final class PagemapScan {
    public static final long PM_SCAN_WP_MATCHING = 1;
    public static final long PM_SCAN_CHECK_WPASYNC = 2;
    public static final long PAGE_IS_WPALLOWED = 1;
    public static final long PAGE_IS_WRITTEN = 1 << 1;
    public static final long PAGE_IS_FILE = 1 << 2;
    public static final long PAGE_IS_PRESENT = 1 << 3;
    public static final long PAGE_IS_SWAPPED = 1 << 4;
    public static final long PAGE_IS_PFNZERO = 1 << 5;
    public static final long PAGE_IS_HUGE = 1 << 6;
    public static final long PAGE_IS_SOFT_DIRTY = 1 << 7;
    public static final long PAGE_IS_GUARD = 1 << 8;
    public static final long PM_SCAN_CATEGORIES = 0x1FF;
    public static final long ARG_SIZE = 96;
    /** sizeof(struct page_region). */
    public static final long PAGE_REGION_SIZE = 24;
    static final int PAGEMAP_WALK_PAGES = 512;
    static final int ENOSPC = -Errno.ENOSPC.value();
    static final int ENOENT = -Errno.ENOENT.value();

    /** struct pm_scan_arg. {@code vecNull} models vec == NULL. */
    public record Arg(long size, long flags, long start, long end, boolean vecNull, long vecLen, long maxPages,
                      long inverted, long mask, long anyof, long returnMask) {
        public static Arg of(long start, long end) {
            return new Arg(ARG_SIZE, 0, start, end, false, 4096, 0, 0, 0, 0, PM_SCAN_CATEGORIES);
        }

        public Arg withFlags(long f) {
            return new Arg(size, f, start, end, vecNull, vecLen, maxPages, inverted, mask, anyof, returnMask);
        }

        public Arg withMasks(long inv, long m, long any, long ret) {
            return new Arg(size, flags, start, end, vecNull, vecLen, maxPages, inv, m, any, ret);
        }

        public Arg withVec(boolean isNull, long len, long max) {
            return new Arg(size, flags, start, end, isNull, len, max, inverted, mask, anyof, returnMask);
        }
    }

    /** struct page_region. */
    public record Region(long start, long end, long categories) {
        public long pages() {
            return (end - start) >>> 12;
        }
    }

    public record Result(List<Region> regions, long walkEnd) {
    }

    // ---- per-call state (struct pagemap_scan_private) ----------------------------------
    private final MmStruct mm;
    private final PhysMem pm;
    private final long flags;
    private final long inverted;
    private final long mask;
    private final long anyof;
    private final long returnMask;
    private final long maxPages;
    private final long end;
    private long vecLen;
    private long[] bufStart;
    private long[] bufEnd;
    private long[] bufCat;
    private int bufIndex;
    private int bufLen;
    private long foundPages;
    private long walkEnd;
    private long curVmaCategory;
    private final List<Region> out = new ArrayList<>();

    private PagemapScan(MmStruct mm, Arg a, long end) {
        this.mm = mm;
        this.pm = mm.kernel().physMem();
        this.flags = a.flags;
        this.inverted = a.inverted;
        this.mask = a.mask;
        this.anyof = a.anyof;
        this.returnMask = a.returnMask;
        // max_pages is a u64: 0 means no limit, and so does anything beyond 2^63 pages
        this.maxPages = a.maxPages <= 0 ? Long.MAX_VALUE : a.maxPages;
        this.end = end;
        this.vecLen = a.vecLen;
        if (vecLen > 0) {
            bufLen = (int) Math.min(PAGEMAP_WALK_PAGES, vecLen);
            bufStart = new long[bufLen];
            bufEnd = new long[bufLen];
            bufCat = new long[bufLen];
        }
    }

    /** ioctl(PAGEMAP_SCAN). */
    public static Result scan(MmStruct mm, Arg a) {
        if (a.size != ARG_SIZE) {
            throw new KernelException(Errno.EINVAL);
        }
        if ((a.flags & ~(PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC)) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        if (((a.inverted | a.mask | a.anyof | a.returnMask) & ~PM_SCAN_CATEGORIES) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        if ((a.start & (PAGE_SIZE - 1)) != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        // access_ok(start, end - start) on the raw __u64 end, before it is rounded up: an
        // end below start (even within the same page) is a huge size, hence EFAULT
        if (Long.compareUnsigned(a.end, a.start) < 0 || Long.compareUnsigned(a.end, TASK_SIZE + PAGE_SIZE) > 0) {
            throw new KernelException(Errno.EFAULT);
        }
        long end = (a.end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        if (a.vecNull && a.vecLen != 0) {
            throw new KernelException(Errno.EINVAL);
        }
        // access_ok(vec, size_mul(vec_len, sizeof(struct page_region))): no user buffer
        // of that size fits below the top of the user address space
        if (!a.vecNull && Long.compareUnsigned(a.vecLen, (TASK_SIZE + PAGE_SIZE) / PAGE_REGION_SIZE) > 0) {
            throw new KernelException(Errno.EFAULT);
        }
        PagemapScan p = new PagemapScan(mm, a.vecNull ? a.withVec(true, 0, a.maxPages) : a, end);
        return p.run(a.start);
    }

    private Result run(long start) {
        int ret = 0;
        boolean walkEndSet = false;
        for (long walkStart = start; walkStart < end; walkStart = walkEnd) {
            walkEnd = 0;
            mm.mmapLock().readLock().lock();
            try {
                ret = walkPageRange(walkStart, end);
            } finally {
                mm.mmapLock().readLock().unlock();
            }
            walkEndSet = walkEnd != 0;
            flushBuffer();
            if (ret != ENOSPC) {
                break;
            }
            if (vecLen == 0 || foundPages == maxPages) {
                break;
            }
        }
        if (ret != 0 && ret != ENOSPC) {
            throw new KernelException(Errno.of(ret));
        }
        return new Result(out, walkEndSet ? walkEnd : end);
    }

    // ---- the walk (mm/pagewalk.c walk_page_range with pagemap_scan_ops) ----------------

    private int walkPageRange(long start, long end) {
        for (Vma vma : mm.vmas().range(start, end)) {
            int t = testWalk(vma);
            if (t < 0) {
                return t;
            }
            if (t > 0) {
                continue;
            }
            long s = Math.max(start, vma.start);
            long e = Math.min(end, vma.end);
            int r = vma.isHugetlb() ? walkHugetlb(vma, s, e) : walkPmdRange(vma, s, e);
            if (r != 0) {
                return r;
            }
        }
        return 0;
    }

    /** pagemap_scan_test_walk(): 1 skips the vma. */
    private int testWalk(Vma vma) {
        boolean wpAllowed = vma.uffdWpAsync() && vma.uffdWpUseMarkers();
        if (!wpAllowed && (flags & PM_SCAN_CHECK_WPASYNC) != 0) {
            return -Errno.EPERM.value();
        }
        if (!wpAllowed && (flags & PM_SCAN_WP_MATCHING) != 0) {
            return 1;
        }
        if ((vma.flags & VmFlags.VM_PFNMAP) != 0) {
            return 1;
        }
        curVmaCategory = wpAllowed ? PAGE_IS_WPALLOWED : 0;
        if (mm.kernel().softDirtyEnabled() && (vma.flags & VmFlags.VM_SOFTDIRTY) != 0) {
            curVmaCategory |= PAGE_IS_SOFT_DIRTY;
        }
        long required = mask & PAGE_IS_WPALLOWED;
        if (((curVmaCategory ^ inverted) & required) != required) {
            return 1;
        }
        return 0;
    }

    /**
     * walk_pmd_range(): each PMD slot is visited under its split lock, so reporting a pte
     * and write-protecting it (WP_MATCHING) is atomic against the guest's stores and
     * faults in that slot; other slots stay free. The lock is taken before looking at the
     * slot, so a hole cannot be filled by a fault between being reported and protected.
     */
    private int walkPmdRange(Vma vma, long start, long e) {
        for (long addr = start; addr < e; ) {
            long next = Math.min((addr & PMD_MASK) + PMD_SIZE, e);
            ReentrantLock ptl = mm.pgtable().ptlock(addr);
            int r;
            ptl.lock();
            try {
                r = walkPmdSlot(vma, addr, next);
            } finally {
                ptl.unlock();
            }
            if (r != 0) {
                return r;
            }
            addr = next;
        }
        return 0;
    }

    private int walkPmdSlot(Vma vma, long addr, long next) {
        PmdTable t = mm.pgtable().pmdTable(addr, false);
        int i = pmdIndex(addr);
        if (t == null || t.pmdNone(i)) {
            return pteHole(vma, addr, next);
        }
        if (!t.isTable(i) && Pte.present(t.pmd[i])) {
            int r = thpEntry(vma, t, i, addr, next);
            return r == ENOENT ? pmdEntry(vma, t.pte[i], addr, next) : r;
        }
        return pmdEntry(vma, t.pte[i], addr, next);
    }

    private boolean interesting(long categories) {
        long c = categories ^ inverted;
        return (c & mask) == mask && (anyof == 0 || (c & anyof) != 0);
    }

    /** pagemap_scan_output(); returns ENOSPC or 0, and the possibly shortened end in {@code endOut[0]}. */
    private int output(long categories, long addr, long[] endOut) {
        if (bufStart == null) {
            return 0;
        }
        categories &= returnMask;
        long nPages = (endOut[0] - addr) >>> 12;
        int ret = 0;
        long total = foundPages + nPages;
        if (total > maxPages || total < 0) {
            long tooMuch = total - maxPages;
            endOut[0] -= tooMuch << 12;
            nPages -= tooMuch;
            ret = ENOSPC;
        }
        if (!pushRange(categories, addr, endOut[0])) {
            endOut[0] = addr;
            nPages = 0;
            ret = ENOSPC;
        }
        foundPages += nPages;
        if (ret != 0) {
            walkEnd = endOut[0];
        }
        return ret;
    }

    private boolean pushRange(long categories, long addr, long e) {
        if (bufEnd[bufIndex] != 0 && addr == bufEnd[bufIndex] && categories == bufCat[bufIndex]) {
            bufEnd[bufIndex] = e;
            return true;
        }
        if (bufEnd[bufIndex] != 0) {
            if (bufIndex >= bufLen - 1) {
                return false;
            }
            bufIndex++;
        }
        bufStart[bufIndex] = addr;
        bufEnd[bufIndex] = e;
        bufCat[bufIndex] = categories;
        return true;
    }

    private void backoutRange(long addr, long e) {
        if (bufStart == null) {
            return;
        }
        if (bufStart[bufIndex] != addr) {
            bufEnd[bufIndex] = addr;
        } else {
            bufStart[bufIndex] = 0;
            bufEnd[bufIndex] = 0;
        }
        foundPages -= (e - addr) >>> 12;
    }

    private void flushBuffer() {
        if (bufStart == null) {
            return;
        }
        int n = bufIndex;
        if (bufEnd[n] != bufStart[n]) {
            n++;
        }
        for (int k = 0; k < n; k++) {
            out.add(new Region(bufStart[k], bufEnd[k], bufCat[k]));
        }
        vecLen -= n;
        bufIndex = 0;
        bufLen = (int) Math.min(bufLen, vecLen);
        java.util.Arrays.fill(bufStart, 0);
        java.util.Arrays.fill(bufEnd, 0);
        java.util.Arrays.fill(bufCat, 0);
        if (bufLen <= 0) {
            bufLen = 0;
        }
    }

    // ---- callbacks ------------------------------------------------------------------------

    /**
     * Whether the 2 MiB range around {@code addr} lies wholly inside this mm's vmas, so
     * that its page table exists only if they faulted it in. The simulation gives each
     * mapping its own 2 MiB aligned slot, whereas a real process packs small mappings
     * next to others (libraries, thread stacks, earlier mappings) whose pages are in use:
     * there, a range our mapping only partly covers already has a PTE table, and the
     * kernel walks its none ptes instead of reporting a PMD hole.
     */
    private boolean pmdOwnedByMappings(long addr) {
        long s = addr & PMD_MASK;
        return mm.vmas().covers(s, s + PMD_SIZE);
    }

    /** pagemap_scan_pte_hole(): WRITTEN only inside uffd-wp vmas (July 2026 fix). */
    private int pteHole(Vma vma, long addr, long e) {
        long categories = curVmaCategory;
        if (!vma.isHugetlb() && (vma.uffdWp() || !pmdOwnedByMappings(addr))) {
            categories |= PAGE_IS_WRITTEN;
        }
        if (!interesting(categories)) {
            return 0;
        }
        long[] endOut = {e};
        int ret = output(categories, addr, endOut);
        if (addr == endOut[0]) {
            return ret;
        }
        if ((flags & PM_SCAN_WP_MATCHING) == 0) {
            return ret;
        }
        Mprotect.changeProtection(vma, addr, endOut[0], Mprotect.CP_UFFD_WP);
        return ret;
    }

    /** pagemap_page_category(). */
    private long pageCategory(long pte) {
        if (pte == 0) {
            return PAGE_IS_WRITTEN;
        }
        long c;
        if (Pte.present(pte)) {
            c = PAGE_IS_PRESENT;
            if (!Pte.uffdWp(pte)) c |= PAGE_IS_WRITTEN;
            long page = Memory.vmNormalPage(pte);
            if (page >= 0 && !Folio.isAnon(pm, Folio.head(pm, page))) c |= PAGE_IS_FILE;
            if (Pte.pfn(pte) == pm.zeroPfn) c |= PAGE_IS_PFNZERO;
            if (mm.kernel().softDirtyEnabled() && Pte.softDirty(pte)) c |= PAGE_IS_SOFT_DIRTY;
        } else {
            c = PAGE_IS_SWAPPED;
            if (!Pte.swpUffdWpAny(pte)) c |= PAGE_IS_WRITTEN;
            if (Pte.isGuardMarker(pte)) c |= PAGE_IS_GUARD;
            if (mm.kernel().softDirtyEnabled() && Pte.swpSoftDirty(pte)) c |= PAGE_IS_SOFT_DIRTY;
        }
        return c;
    }

    /**
     * pagemap_scan_pmd_entry(). The two fast paths handle a run of unprotected ptes at a
     * time; reporting a run with one pagemap_scan_output() call reports, truncates and sets
     * walk_end exactly as the kernel's page-by-page loop does, because a run is contiguous
     * and has one category.
     */
    private int pmdEntry(Vma vma, long[] tbl, long start, long e) {
        boolean wpMatching = (flags & PM_SCAN_WP_MATCHING) != 0;
        int from = pteIndex(start);
        int to = from + (int) ((e - start) >>> 12);
        long tableBase = start - ((long) from << 12);
        if (wpMatching && bufStart == null) {
            // fast path: exclusive WP of every unprotected pte, whatever the masks
            for (int i = WpPteRuns.nextUnprotected(tbl, from, to); i < to; i = WpPteRuns.nextUnprotected(tbl, i + 1, to)) {
                WpPteRuns.makeUffdWpPte(tbl, i);
            }
            return 0;
        }
        int ret = 0;
        long[] next = new long[1];
        if (anyof == 0 && inverted == 0 && mask == PAGE_IS_WRITTEN && returnMask == PAGE_IS_WRITTEN) {
            for (int i = WpPteRuns.nextUnprotected(tbl, from, to); i < to; ) {
                int runEnd = WpPteRuns.nextProtected(tbl, i + 1, to);
                long addr = tableBase + ((long) i << 12);
                next[0] = tableBase + ((long) runEnd << 12);
                ret = output(curVmaCategory | PAGE_IS_WRITTEN, addr, next);
                if (next[0] == addr) {
                    break;
                }
                if (wpMatching) {
                    int reported = (int) ((next[0] - tableBase) >>> 12);
                    for (int j = i; j < reported; j++) {
                        WpPteRuns.makeUffdWpPte(tbl, j);
                    }
                }
                if (ret != 0) {
                    break;
                }
                i = WpPteRuns.nextUnprotected(tbl, runEnd, to);
            }
            return ret;
        }
        for (long addr = start; addr < e; addr += PAGE_SIZE) {
            int idx = pteIndex(addr);
            long categories = curVmaCategory | pageCategory(tbl[idx]);
            if (!interesting(categories)) {
                continue;
            }
            next[0] = addr + PAGE_SIZE;
            ret = output(categories, addr, next);
            if (next[0] == addr) {
                break;
            }
            if (!wpMatching || (categories & PAGE_IS_WRITTEN) == 0) {
                continue;
            }
            WpPteRuns.makeUffdWpPte(tbl, idx);
            if (ret != 0) {
                break;
            }
        }
        return ret;
    }

    /** pagemap_scan_thp_entry(): ENOENT means "walk it as PTEs". */
    private int thpEntry(Vma vma, PmdTable t, int i, long start, long e) {
        long pmd = t.pmd[i];
        long categories = curVmaCategory | PAGE_IS_HUGE | PAGE_IS_PRESENT;
        if (!Pte.uffdWp(pmd)) categories |= PAGE_IS_WRITTEN;
        if (HugeMemory.isHugeZero(pm, pmd)) {
            categories |= PAGE_IS_PFNZERO;
        } else if (!Folio.isAnon(pm, Pte.pfn(pmd))) {
            categories |= PAGE_IS_FILE;
        }
        if (mm.kernel().softDirtyEnabled() && Pte.softDirty(pmd)) categories |= PAGE_IS_SOFT_DIRTY;
        if (!interesting(categories)) {
            return 0;
        }
        long[] endOut = {e};
        int ret = output(categories, start, endOut);
        if (start == endOut[0]) {
            return ret;
        }
        if ((flags & PM_SCAN_WP_MATCHING) == 0 || (categories & PAGE_IS_WRITTEN) == 0) {
            return ret;
        }
        if (endOut[0] != start + PMD_SIZE) {
            HugeMemory.splitHugePmd(vma, t, i);
            backoutRange(start, endOut[0]);
            return ENOENT;
        }
        t.pmd[i] = Pte.mkUffdWp(pmd);
        return ret;
    }

    private int walkHugetlb(Vma vma, long start, long e) {
        for (long addr = start; addr < e; ) {
            long next = Math.min((addr & PMD_MASK) + PMD_SIZE, e);
            ReentrantLock ptl = mm.pgtable().ptlock(addr);
            int r;
            ptl.lock();
            try {
                PmdTable t = mm.pgtable().pmdTable(addr, (flags & PM_SCAN_WP_MATCHING) != 0);
                r = t == null ? hugetlbNoneEntry(vma, addr, next) : hugetlbEntry(vma, t, pmdIndex(addr), addr, next);
            } finally {
                ptl.unlock();
            }
            if (r != 0) {
                return r;
            }
            addr = next;
        }
        return 0;
    }

    /**
     * A hugetlb page whose PMD table was never allocated. The real kernel's upper table
     * levels are nearly always present (neighbouring mappings share them), so
     * hugetlb_walk() finds a none entry rather than a hole: report it as one.
     */
    private int hugetlbNoneEntry(Vma vma, long start, long e) {
        long categories = curVmaCategory | PAGE_IS_HUGE;
        if (!interesting(categories)) {
            return 0;
        }
        return output(categories, start, new long[] {e});
    }

    /** pagemap_scan_hugetlb_entry(). */
    private int hugetlbEntry(Vma vma, PmdTable t, int i, long start, long e) {
        long pte = t.pmd[i];
        long categories = curVmaCategory | PAGE_IS_HUGE;
        if (Pte.present(pte)) {
            categories |= PAGE_IS_PRESENT;
            if (!Pte.uffdWp(pte)) categories |= PAGE_IS_WRITTEN;
            if (!Folio.isAnon(pm, Pte.pfn(pte))) categories |= PAGE_IS_FILE;
            if (mm.kernel().softDirtyEnabled() && Pte.softDirty(pte)) categories |= PAGE_IS_SOFT_DIRTY;
        } else if (pte != 0) {
            categories |= PAGE_IS_SWAPPED;
            if (!Pte.swpUffdWpAny(pte)) categories |= PAGE_IS_WRITTEN;
        }
        if (!interesting(categories)) {
            return 0;
        }
        long[] endOut = {e};
        int ret = output(categories, start, endOut);
        if ((flags & PM_SCAN_WP_MATCHING) == 0 || start == endOut[0] || (categories & PAGE_IS_WRITTEN) == 0) {
            return ret;
        }
        if (endOut[0] != start + PMD_SIZE) {
            backoutRange(start, endOut[0]);
            walkEnd = start;
            return 0;
        }
        t.pmd[i] = Pte.present(pte) ? Pte.mkUffdWp(pte) : Pte.mkMarker(Pte.MARKER_UFFD_WP);
        return ret;
    }
}
