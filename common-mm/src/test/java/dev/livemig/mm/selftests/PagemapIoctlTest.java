package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.MmConstants.TASK_SIZE;
import static dev.livemig.mm.proc.PagemapScan.ARG_SIZE;
import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_GUARD;
import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_HUGE;
import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_PFNZERO;
import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_PRESENT;
import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_SWAPPED;
import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_WRITTEN;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_CATEGORIES;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_CHECK_WPASYNC;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_WP_MATCHING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.proc.PagemapScan.Arg;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** PAGEMAP_SCAN argument checks, max_pages / vec_len / walk_end, and the 2026 hole fixes (pagemap_ioctl.c). */
class PagemapIoctlTest extends MmTestBase {
    private static final long WP = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;

    private UserfaultfdCtx wpInit(long addr, long len) {
        UserfaultfdCtx u = uffd(UffdWpAsyncTest.INIT_FEATURES);
        u.register(addr, len, REGISTER_MODE_WP);
        wpRange(u, addr, len, true);
        return u;
    }

    private PagemapScan.Result written(long start, long len, long vecLen, long flags, long max) {
        return pagemapIoctl(start, len, vecLen, flags, max, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
    }

    private PagemapScan.Result scan(Arg a) {
        return PagemapScan.scan(mm, a);
    }

    static Stream<Arguments> sanityTestsSd() {
        // what, how the valid argument is broken, errno (null: the call succeeds)
        List<Arguments> l = List.of(
                Arguments.of("zero length", (Function<Arg, Arg>) a -> new Arg(ARG_SIZE, 0, a.start(), a.start(), false, 8, 0, 0, 0, 0, PM_SCAN_CATEGORIES), null),
                Arguments.of("vec NULL with vec_len", (Function<Arg, Arg>) a -> a.withVec(true, 8, 0), Errno.EINVAL),
                Arguments.of("vec_len 0", (Function<Arg, Arg>) a -> a.withVec(false, 0, 0), null),
                Arguments.of("flags -1", (Function<Arg, Arg>) a -> a.withFlags(-1), Errno.EINVAL),
                Arguments.of("extra flag bit", (Function<Arg, Arg>) a -> a.withFlags(4), Errno.EINVAL),
                Arguments.of("return mask 0x1000", (Function<Arg, Arg>) a -> a.withMasks(0, 0, 0, 0x1000), Errno.EINVAL),
                Arguments.of("return mask bit 9", (Function<Arg, Arg>) a -> a.withMasks(0, 0, 0, 1 << 9), Errno.EINVAL),
                Arguments.of("GUARD accepted", (Function<Arg, Arg>) a -> a.withMasks(0, 0, 0, PAGE_IS_GUARD), null),
                Arguments.of("inverted bit 10", (Function<Arg, Arg>) a -> a.withMasks(1 << 10, 0, 0, PM_SCAN_CATEGORIES), Errno.EINVAL),
                Arguments.of("mask 0xFFF", (Function<Arg, Arg>) a -> a.withFlags(WP).withMasks(0, 0xFFF, 0, PAGE_IS_WRITTEN), Errno.EINVAL),
                Arguments.of("size +8", (Function<Arg, Arg>) a -> new Arg(ARG_SIZE + 8, 0, a.start(), a.end(), false, 8, 0, 0, 0, 0, PM_SCAN_CATEGORIES), Errno.EINVAL),
                Arguments.of("size -8", (Function<Arg, Arg>) a -> new Arg(ARG_SIZE - 8, 0, a.start(), a.end(), false, 8, 0, 0, 0, 0, PM_SCAN_CATEGORIES), Errno.EINVAL),
                Arguments.of("start unaligned", (Function<Arg, Arg>) a -> Arg.of(a.start() + 1, a.end()), Errno.EINVAL),
                Arguments.of("end unaligned rounds up", (Function<Arg, Arg>) a -> Arg.of(a.start(), a.end() - 1), null),
                Arguments.of("end < start", (Function<Arg, Arg>) a -> Arg.of(a.start(), a.start() - P), Errno.EFAULT),
                Arguments.of("kernel-space start", (Function<Arg, Arg>) a -> Arg.of(TASK_SIZE + 2 * P, TASK_SIZE + 4 * P), Errno.EFAULT),
                Arguments.of("all categories inverted", (Function<Arg, Arg>) a -> a.withFlags(WP).withMasks(PM_SCAN_CATEGORIES, PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN), null));
        return l.stream();
    }

    // selftest: pagemap_ioctl.c sanity_tests_sd() part 1 (scenario 53)
    @ParameterizedTest(name = "{0}")
    @MethodSource
    void sanityTestsSd(String what, Function<Arg, Arg> mutate, Errno errno) {
        long mem = anon(10);
        wpInit(mem, 10 * P);
        Arg a = mutate.apply(Arg.of(mem, mem + 10 * P));
        if (errno == null) {
            PagemapScan.Result r = scan(a);
            assertTrue(r.regions().size() <= 10, what);
        } else {
            assertErrno(errno, () -> scan(a), what);
        }
    }

    // selftest: pagemap_ioctl.c sanity_tests_sd() 3-6: repeated pattern, in parts, max_pages, sub-range
    @Test
    void sanityTestsSdPatterns() {
        int n = 1000;
        long mem = anon(n);
        wpInit(mem, n * P);
        wpAddrRange(mem, n * P);
        for (int i = 0; i < n; i += 2) {
            mm.writeLong(mem + i * P, 1);
        }
        assertEquals(500, written(mem, n * P, 500, 0, 0).regions().size(), "repeated pattern");
        int ret = written(mem, n * P, 500, WP, n / 2 - 2).regions().size();
        int ret2 = written(mem, n * P, 2, 0, 0).regions().size();
        int ret3 = written(mem, n * P, 500, WP, 0).regions().size();
        assertEquals(List.of(498, 2, 2), List.of(ret, ret2, ret3), "in parts");
        assertEquals(500, ret + ret3);

        for (int i = 0; i < n; i += 2) {
            mm.writeLong(mem + i * P, 1);
        }
        mm.writeLong(mem + (n - 1) * P, 1);
        assertEquals(n / 2, written(mem, n * P, n, WP, n / 2).regions().size(), "max_pages");
        assertEquals(1, written(mem, n * P, n, WP, 0).regions().size(), "the last page is left");

        for (int i = 0; i < n; i++) {
            mm.writeLong(mem + i * P, 2);
        }
        PagemapScan.Result r = written(mem + P, 2 * P, 1, WP, 2);
        assertEquals(List.of(new PagemapScan.Region(mem + P, mem + 3 * P, PAGE_IS_WRITTEN)), r.regions());
        r = written(mem, n * P, 10, 0, 0);
        assertEquals(List.of(new PagemapScan.Region(mem, mem + P, PAGE_IS_WRITTEN),
                new PagemapScan.Region(mem + 3 * P, mem + n * P, PAGE_IS_WRITTEN)), r.regions(), "get and clear a sub-range");
    }

    static Stream<Arguments> walkEndTester() {
        // sparse (every second page written)?, vec_len, max_pages, regions, walk_end page (scenario 59)
        return Stream.of(
                Arguments.of(false, 1000, 0, 1, 1000), Arguments.of(false, 1, 0, 1, 1000),
                Arguments.of(false, 1, 1000, 1, 1000), Arguments.of(false, 1000, 500, 1, 500),
                Arguments.of(false, 1000, 1, 1, 1), Arguments.of(false, 1000, -1, 1, 1000),
                Arguments.of(true, 1000, 0, 500, 1000), Arguments.of(true, 1, 0, 1, 2),
                Arguments.of(true, 1, 1000, 1, 2), Arguments.of(true, 1000, 500, 500, 1000),
                Arguments.of(true, 1000, 1, 1, 2), Arguments.of(true, 10, 0, 10, 20),
                Arguments.of(true, 1000, 3, 3, 6));
    }

    // selftest: pagemap_ioctl.c sanity_tests_sd() 10 "walk_end tester"
    @ParameterizedTest(name = "sparse={0} vec={1} max={2}")
    @MethodSource
    void walkEndTester(boolean sparse, long vec, long max, int regions, long walkEndPage) {
        int n = 1000;
        long mem = anon(n);
        wpInit(mem, n * P);
        for (int i = 0; i < n; i += sparse ? 2 : 1) {
            mm.writeLong(mem + i * P, 1);
        }
        PagemapScan.Result r = written(mem, n * P, vec, 0, max);
        assertEquals(regions, r.regions().size());
        assertEquals(mem + walkEndPage * P, r.walkEnd());
        assertEquals(0, written(mem, 0, 1000, 0, 0).regions().size());
        assertEquals(mem, written(mem, 0, 1000, 0, 0).walkEnd(), "len 0: walk_end = start");
    }

    // selftest: pagemap_ioctl.c sanity_tests_sd() 9 (scenario 60): resume at walk_end until done
    @Test
    void smallerVecResumeLoop() {
        int n = 1000;
        long mem = anon(n);
        wpInit(mem, n * P);
        java.util.Random rnd = new java.util.Random(7);
        for (int iter = 0; iter < 20; iter++) {
            java.util.Set<Integer> wrote = new java.util.TreeSet<>();
            for (int k = 0; k < 100; k++) {
                int i = rnd.nextInt(n);
                mm.writeLong(mem + i * P, iter);
                wrote.add(i);
            }
            java.util.Set<Integer> got = new java.util.TreeSet<>();
            for (long start = mem; start < mem + n * P; ) {
                PagemapScan.Result r = written(start, mem + n * P - start, 7, WP, 0);
                for (PagemapScan.Region reg : r.regions()) {
                    for (long a = reg.start(); a < reg.end(); a += P) {
                        got.add((int) ((a - mem) / P));
                    }
                }
                start = r.walkEnd();
            }
            assertEquals(wrote, got, "iteration " + iter);
        }
    }

    // selftest: pagemap_ioctl.c sanity_tests_sd() 7 (scenario 58): two regions, separate mappings
    @Test
    void twoRegions() {
        long m1 = anon(1000);
        long m2 = anon(1000);
        UserfaultfdCtx u = uffd(UffdWpAsyncTest.INIT_FEATURES);
        for (long m : new long[] {m1, m2}) {
            u.register(m, 1000 * P, REGISTER_MODE_WP);
            wpRange(u, m, 1000 * P, true);
            for (int i = 0; i < 1000; i++) {
                mm.writeLong(m + i * P, 1);
            }
        }
        wpAddrRange(m1, 1000 * P);
        PagemapScan.Result r = written(m2, 1000 * P, 1, 0, 0);
        assertEquals(1, r.regions().size());
        assertEquals(1000, r.regions().get(0).pages());
    }

    // selftest: pagemap_ioctl.c unpopulated_scan_test() (2026 fix, scenario 70)
    @Test
    void unpopulatedScanTest() {
        long mem = anon(16);
        wpInit(mem, 16 * P);
        for (int i = 0; i < 16; i++) {
            mm.writeLong(mem + i * P, -1);
        }
        mm.madvise(mem, 16 * P, Mmap.Advice.DONTNEED);
        assertEquals(16, pages(written(mem, 16 * P, 16, 0, 0)), "fast path");
        assertEquals(16, pages(pagemapIoctl(mem, 16 * P, 16, 0, 0, 0, PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN)), "generic path");
    }

    // selftest: pagemap_ioctl.c unpopulated_thp_hole_test() (scenario 71)
    @Test
    void unpopulatedThpHoleTest() {
        long mem = thp(HPAGE_PMD_NR);
        for (long a = mem; a < mem + PMD_SIZE; a += P) {
            mm.writeLong(a, -1);
        }
        mm.madvise(mem, PMD_SIZE, Mmap.Advice.COLLAPSE);
        wpInit(mem, PMD_SIZE);
        mm.madvise(mem, PMD_SIZE, Mmap.Advice.DONTNEED);
        assertEquals(HPAGE_PMD_NR, pages(written(mem, PMD_SIZE, 16, 0, 0)), "the pmd_none hole is written");
    }

    // selftest: pagemap_ioctl.c unpopulated_thp_hole_test() analogue (scenario 71): a
    // never-populated 2 MiB hole in a WP-registered vma
    @Test
    void unpopulatedThpHoleRegistered() {
        long reg = thp(HPAGE_PMD_NR);
        UserfaultfdCtx u = uffd(UffdWpAsyncTest.INIT_FEATURES);
        u.register(reg, PMD_SIZE, REGISTER_MODE_WP);
        assertEquals(3, categories(reg, 1)[0]);
        wpAddrRange(reg, PMD_SIZE);
        assertEquals(0x11, categories(reg, 1)[0], "WP_MATCHING populated the hole with markers");
    }

    // selftest: kernel-semantics §13.2 (scenario 54): CHECK_WPASYNC on unsupported vmas
    @Test
    void checkWpasyncEperm() {
        long plain = anon(2);
        assertErrno(Errno.EPERM, () -> wpAddrRange(plain, 2 * P), "unregistered vma");
        UserfaultfdCtx sync = uffd(UffdFeatures.PAGEFAULT_FLAG_WP);
        long s = anon(2);
        sync.register(s, 2 * P, REGISTER_MODE_WP);
        assertErrno(Errno.EPERM, () -> wpAddrRange(s, 2 * P), "sync-WP vma");
        UserfaultfdCtx async = uffd(UffdWpAsyncTest.INIT_FEATURES);
        long m = anon(2);
        async.register(m, 2 * P, REGISTER_MODE_MISSING);
        assertErrno(Errno.EPERM, () -> wpAddrRange(m, 2 * P), "MISSING-only vma of an async ctx");
        assertEquals(0, written(plain, 2 * P, 8, PM_SCAN_WP_MATCHING, 0).regions().size(), "WP_MATCHING alone skips");
        // [registered 2p][unregistered 2p]: EPERM, but the registered part is already protected
        long mixed = anon(4);
        async.register(mixed, 2 * P, REGISTER_MODE_WP);
        mm.writeLong(mixed, 1);
        assertErrno(Errno.EPERM, () -> wpAddrRange(mixed, 4 * P));
        assertEquals(0x9, categories(mixed, 1)[0], "not atomic: page 0 got protected");
    }

    // selftest: kernel-semantics §13.6 (scenario 76): WP_MATCHING without a vector ignores the masks
    @Test
    void wpMatchingWithoutVectorProtectsAll() {
        long mem = anon(8);
        UserfaultfdCtx u = uffd(UffdWpAsyncTest.INIT_FEATURES);
        u.register(mem, 8 * P, REGISTER_MODE_WP);
        for (int i = 0; i < 4; i++) {
            mm.writeLong(mem + i * P, 1);
        }
        assertEquals(0, pagemapIoctl(mem, 8 * P, 8, PM_SCAN_WP_MATCHING, 0, PAGE_IS_SWAPPED, 0, 0, PAGE_IS_SWAPPED)
                .regions().size());
        assertArrayEquals(new long[] {0xb, 0xb, 0xb, 0xb, 3, 3, 3, 3}, categories(mem, 8), "with a vector: nothing changed");
        PagemapScan.scan(mm, new Arg(ARG_SIZE, PM_SCAN_WP_MATCHING, mem, mem + 8 * P, true, 0, 0, 0, PAGE_IS_SWAPPED, 0,
                PAGE_IS_SWAPPED));
        assertArrayEquals(new long[] {9, 9, 9, 9, 0x11, 0x11, 0x11, 0x11}, categories(mem, 8), "without: all protected");
    }

    // selftest: pagemap_ioctl.c zeropfn_tests() (scenario 65)
    @Test
    void zeropfnTests() {
        long mem = mm.mmap(10 * P, Mmap.PROT_READ, false, null, 0, 0);
        mm.madvise(mem, 10 * P, Mmap.Advice.NOHUGEPAGE);
        for (int i = 0; i < 10; i++) {
            mm.readLong(mem + i * P);
        }
        PagemapScan.Result r = pagemapIoctl(mem, 10 * P, 10, 0, 10, PAGE_IS_PFNZERO, 0, 0, PAGE_IS_PFNZERO);
        assertEquals(1, r.regions().size());
        assertEquals(10, r.regions().get(0).pages());
        long huge = thp(HPAGE_PMD_NR);
        mm.readLong(huge);
        assertEquals(0x6a, categories(huge, 1)[0], "huge zero page");
        r = pagemapIoctl(huge, PMD_SIZE, 10, 0, 0, PAGE_IS_PFNZERO, 0, 0, PAGE_IS_PFNZERO);
        assertEquals(HPAGE_PMD_NR, pages(r));
    }

    // selftest: pagemap_ioctl.c sanity_tests() masks (scenario 66)
    @Test
    void sanityTests() {
        long mem = anon(10);
        wpInit(mem, 10 * P);
        for (int i = 0; i < 10; i++) {
            mm.writeLong(mem + i * P, -1);
        }
        long all = PM_SCAN_CATEGORIES;
        PagemapScan.Result r = pagemapIoctl(mem, 10 * P, 10, 0, 0, 0, all, 0, all);
        assertEquals(List.of(new PagemapScan.Region(mem, mem + 10 * P, 0xb)), r.regions(), "anyof ALL");
        assertEquals(0, pagemapIoctl(mem, 10 * P, 10, 0, 0, all, 0, 0, all).regions().size(), "required ALL (quirk)");
        r = pagemapIoctl(mem, 10 * P, 10, 0, 0, PAGE_IS_WRITTEN, PAGE_IS_PRESENT, 0, all);
        assertEquals(1, r.regions().size(), "required WRITTEN anyof PRESENT");
        assertEquals(0, pagemapIoctl(mem, 10 * P, 10, 0, 0, PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN, all).regions().size());
        assertEquals(0, pagemapIoctl(mem, 10 * P, 10, 0, 0, PAGE_IS_PRESENT, 0, PAGE_IS_PRESENT, all).regions().size());
        r = pagemapIoctl(mem, 10 * P, 10, PM_SCAN_WP_MATCHING, 0, 0, all, 0, PAGE_IS_WRITTEN);
        assertEquals(List.of(new PagemapScan.Region(mem, mem + 10 * P, PAGE_IS_WRITTEN)), r.regions());
        assertEquals(0, pagemapIoctl(mem, 10 * P, 10, 0, 0, PAGE_IS_WRITTEN, 0, 0, all).regions().size(), "re-protected");
        assertEquals(0, pagemapIoctl(0x10000000L, 64 * P, 10, 0, 0, 0, 0, 0, all).regions().size(), "unmapped_region_tests");
        assertEquals(0, pagemapIoctl(mem, 10 * P, 10, 0, 0, PAGE_IS_HUGE, 0, 0, all).regions().size());
    }

    // selftest: pagemap_ioctl.c userfaultfd_tests() (scenario 68): PROT_NONE + mprotect mix
    @Test
    void userfaultfdTests() {
        long mem = mm.mmap(16 * P, Mmap.PROT_NONE, false, null, 0, 0);
        wpInit(mem, 16 * P);
        int[] prot = {RW, Mmap.PROT_READ, RW, Mmap.PROT_READ, RW, Mmap.PROT_NONE, RW, Mmap.PROT_READ};
        for (int i = 0; i < 8; i++) {
            mm.mprotect(mem + i * 2 * P, 2 * P, prot[i]);
        }
        wpAddrRange(mem + 4 * P, 8 * P);
        wpAddrRange(mem, 16 * P);
        assertEquals(0, written(mem, 16 * P, 1, 0, 14).regions().size());
        PagemapScan.Result r = scanAll(mem, 16);
        assertTrue(r.regions().stream().allMatch(x -> x.categories() == 0x11), r.toString());
    }
}
