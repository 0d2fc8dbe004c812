package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.livemig.mm.Errno;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.debug.MmVerify;
import dev.livemig.mm.hugetlb.HugetlbFile;
import dev.livemig.mm.page.AddressSpace;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.shmem.ShmemFile;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.function.Executable;

/**
 * A fresh simulated machine per test, plus the selftests' helpers (uffd-common.c,
 * pagemap_ioctl.c) and the invariant check that runs after every test: while the
 * mappings are live every folio's refcount and mapcounts match the page tables and page
 * caches ({@link MmVerify}); after every process exited and every file was closed, no
 * frame is left allocated.
 */
public abstract class MmTestBase {
    protected static final long P = PAGE_SIZE;
    protected static final int RW = Mmap.PROT_READ | Mmap.PROT_WRITE;
    /** Generous bound for a blocked thread or a message to show up; never asserted on. */
    protected static final long WAIT_NS = TimeUnit.SECONDS.toNanos(20);

    protected Kernel kernel;
    protected MmStruct mm;
    private final List<AddressSpace> files = new ArrayList<>();
    private long baselineFrames;

    /** The kernel configuration of the test; mainline by default. */
    protected Kernel.Config config() {
        return new Kernel.Config();
    }

    @BeforeEach
    final void bootKernel() {
        kernel = new Kernel(config());
        baselineFrames = kernel.physMem().allocatedPages();
        mm = kernel.newMm();
    }

    @AfterEach
    final void verifyInvariants() {
        try {
            MmVerify.verify(kernel, files);
            for (MmStruct m : kernel.liveMms()) {
                m.exit();
            }
            MmVerify.verify(kernel, files);
            files.forEach(AddressSpace::evictAll);
            assertEquals(baselineFrames, kernel.physMem().allocatedPages(), "frames leaked after exit and close");
            assertEquals(kernel.hugetlbPool().total(), kernel.hugetlbPool().free(), "huge pages leaked");
            MmVerify.verify(kernel, List.of());
        } finally {
            kernel.close();
        }
    }

    // ---- memory types (uffd-unit-tests mem_type) ----------------------------------------

    protected ShmemFile shmemFile(long pages) {
        ShmemFile f = new ShmemFile(kernel.physMem(), "memfd" + files.size(), pages);
        files.add(f);
        return f;
    }

    protected HugetlbFile hugetlbFile(long pages) {
        HugetlbFile f = new HugetlbFile(kernel.physMem(), "hugetlb" + files.size(), pages);
        files.add(f);
        return f;
    }

    /** Private anonymous memory without THP. */
    protected long anon(MmStruct m, long pages) {
        long a = m.mmap(pages * P, RW, false, null, 0, 0);
        m.madvise(a, pages * P, Mmap.Advice.NOHUGEPAGE);
        return a;
    }

    protected long anon(long pages) {
        return anon(mm, pages);
    }

    /** Private anonymous memory with MADV_HUGEPAGE (2 MiB aligned by the allocator). */
    protected long thp(long pages) {
        long a = mm.mmap(pages * P, RW, false, null, 0, 0);
        mm.madvise(a, pages * P, Mmap.Advice.HUGEPAGE);
        return a;
    }

    protected long mapShared(AddressSpace f) {
        return mm.mmap(f.sizePages() * P, RW, true, f, 0, 0);
    }

    protected long mapPrivate(AddressSpace f) {
        return mm.mmap(f.sizePages() * P, RW, false, f, 0, 0);
    }

    // ---- userfaultfd helpers (uffd-common.c) ------------------------------------------

    /** userfaultfd() + UFFDIO_API with {@code features}. */
    protected UserfaultfdCtx uffd(long features) {
        UserfaultfdCtx u = mm.userfaultfd();
        u.api(features);
        return u;
    }

    /** wp_range(). */
    protected static void wpRange(UserfaultfdCtx u, long start, long len, boolean wp) {
        u.writeprotect(start, len, wp ? UserfaultfdCtx.WRITEPROTECT_MODE_WP : 0);
    }

    /** The next message, waiting for it (uffd_read_msg on a blocking uffd). */
    protected static UffdMsg readMsg(UserfaultfdCtx u) {
        UffdMsg m = u.read(WAIT_NS);
        assertNotNull(m, "no userfaultfd message arrived");
        return m;
    }

    /** Runs a guest access or syscall on its own thread (a faulting vCPU / locking thread). */
    protected static CompletableFuture<Void> async(Runnable r) {
        return CompletableFuture.runAsync(r, c -> {
            Thread t = new Thread(c, "guest");
            t.setDaemon(true);
            t.start();
        });
    }

    /** Like {@link #async(Runnable)} with a result; never the common pool, which may have one thread. */
    protected static <T> CompletableFuture<T> supply(java.util.function.Supplier<T> s) {
        return CompletableFuture.supplyAsync(s, c -> {
            Thread t = new Thread(c, "guest");
            t.setDaemon(true);
            t.start();
        });
    }

    protected static void join(CompletableFuture<?> f) {
        try {
            f.get(WAIT_NS, TimeUnit.NANOSECONDS);
        } catch (Exception e) {
            throw new AssertionError("guest thread did not complete", e);
        }
    }

    /** The result of a guest thread, waiting a bounded time for it. */
    protected static <T> T result(CompletableFuture<T> f) {
        try {
            return f.get(WAIT_NS, TimeUnit.NANOSECONDS);
        } catch (Exception e) {
            throw new AssertionError("guest thread did not complete", e);
        }
    }

    protected static void assertErrno(Errno expected, Executable call) {
        assertErrno(expected, call, null);
    }

    protected static void assertErrno(Errno expected, Executable call, String what) {
        KernelException e = assertThrows(KernelException.class, call, what);
        assertEquals(expected, e.errno(), what);
    }

    // ---- pagemap helpers (pagemap_ioctl.c) ---------------------------------------------

    protected long pagemap(MmStruct m, long addr) {
        return Pagemap.read(m, addr, 1)[0];
    }

    protected long pagemap(long addr) {
        return pagemap(mm, addr);
    }

    protected static boolean uffdWpBit(long pme) {
        return (pme & Pagemap.PM_UFFD_WP) != 0;
    }

    /** PAGEMAP_SCAN with every category returned and no filter. */
    protected PagemapScan.Result scanAll(long start, long pages) {
        return PagemapScan.scan(mm, PagemapScan.Arg.of(start, start + pages * P));
    }

    /** The categories of each page, expanded from a full scan. */
    protected long[] categories(long start, int pages) {
        long[] c = new long[pages];
        for (PagemapScan.Region r : scanAll(start, pages).regions()) {
            for (long a = r.start(); a < r.end(); a += P) {
                c[(int) ((a - start) / P)] = r.categories();
            }
        }
        return c;
    }

    /** pagemap_ioctl() with the selftest's argument order. */
    protected PagemapScan.Result pagemapIoctl(long start, long len, long vecLen, long flags, long maxPages,
                                              long required, long anyof, long excluded, long ret) {
        return PagemapScan.scan(mm, new PagemapScan.Arg(PagemapScan.ARG_SIZE, flags, start, start + len,
                false, vecLen, maxPages, excluded, required, anyof, ret));
    }

    /** wp_addr_range(): WP_MATCHING|CHECK_WPASYNC with no output vector. */
    protected void wpAddrRange(long start, long len) {
        PagemapScan.scan(mm, new PagemapScan.Arg(PagemapScan.ARG_SIZE,
                PagemapScan.PM_SCAN_WP_MATCHING | PagemapScan.PM_SCAN_CHECK_WPASYNC, start, start + len, true, 0, 0,
                0, PagemapScan.PAGE_IS_WRITTEN, 0, PagemapScan.PAGE_IS_WRITTEN));
    }

    /** Total pages in the regions of a scan result. */
    protected static long pages(PagemapScan.Result r) {
        return r.regions().stream().mapToLong(PagemapScan.Region::pages).sum();
    }
}
