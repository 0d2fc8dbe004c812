package dev.livemig.mm.selftests;

import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_HUGE;
import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_WRITTEN;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_CHECK_WPASYNC;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_WP_MATCHING;
import static dev.livemig.mm.uffd.UffdFeatures.WP_ASYNC_MAINLINE;
import static dev.livemig.mm.uffd.UffdFeatures.WP_HUGETLBFS_SHMEM;
import static dev.livemig.mm.uffd.UffdFeatures.WP_UNPOPULATED;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.MmConstants;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The seed UFFD_FEATURE_WP_ASYNC: a write to a protected page resolves itself (the bit is
 * cleared in place, no message), and the written pages show up in pagemap and in
 * PAGEMAP_SCAN as WRITTEN until WP_MATCHING protects them again (pagemap_ioctl.c).
 */
class UffdWpAsyncTest extends MmTestBase {
    /** init_uffd() of pagemap_ioctl.c. */
    static final long INIT_FEATURES = WP_UNPOPULATED | WP_ASYNC_MAINLINE | WP_HUGETLBFS_SHMEM;

    enum Mem { ANON, SHMEM, THP, HUGETLB }

    private UserfaultfdCtx wpInit(long addr, long len) {
        UserfaultfdCtx u = uffd(INIT_FEATURES);
        u.register(addr, len, REGISTER_MODE_WP);
        wpRange(u, addr, len, true);
        return u;
    }

    private long allocate(Mem m, int pages) {
        return switch (m) {
            case ANON -> anon(pages);
            case SHMEM -> mapShared(shmemFile(pages));
            case THP -> thp(pages);
            case HUGETLB -> mapShared(hugetlbFile(pages));
        };
    }

    private PagemapScan.Result written(long start, long len, long vecLen, long flags, long max) {
        return pagemapIoctl(start, len, vecLen, flags, max, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
    }

    private void bump(long addr) {
        mm.writeLong(addr, mm.readLong(addr) + 1);
    }

    // selftest: pagemap_ioctl.c base_tests() ("Page testing", "Large Page testing",
    // "Huge page testing", "Hugetlb shmem testing", "File anonymous memory testing")
    @ParameterizedTest
    @EnumSource(Mem.class)
    void baseTests(Mem m) {
        int vecSize = m == Mem.ANON || m == Mem.SHMEM ? 64 : 2 * MmConstants.HPAGE_PMD_NR;
        long size = vecSize * P;
        long mem = allocate(m, vecSize);
        wpInit(mem, size);
        long wp = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;

        assertEquals(0, written(mem, size, 1, wp, vecSize - 2).regions().size(),
                "all new pages must not be written (dirty)");

        for (long a = mem; a < mem + size; a += P) {
            mm.writeLong(a, -1);
        }
        PagemapScan.Result r = written(mem, size, 1, 0, 0);
        assertEquals(1, r.regions().size());
        assertEquals(vecSize, r.regions().get(0).pages(), "all pages must be written (dirty)");

        written(mem, size, 1, wp, 0);
        for (long a = mem + P; a < mem + size - P; a += P) {
            mm.writeLong(a, 0);
        }
        r = written(mem, size, 1, wp, 0);
        assertEquals(1, r.regions().size());
        long len = r.regions().get(0).pages();
        assertTrue(len >= vecSize - 2 && len <= vecSize, "all pages dirty other than first and the last one: " + len);
        assertEquals(0, written(mem, size, 1, 0, 0).regions().size(), "PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC");

        written(mem, size, 1, wp, 0);
        long middle = mem + vecSize / 2 * P;
        bump(middle);
        r = written(mem, size, vecSize, 0, 0);
        assertEquals(1, r.regions().size(), "only middle page dirty");
        assertTrue(r.regions().get(0).pages() >= 1);

        written(mem, size, 1, wp, 0);
        bump(middle);
        bump(middle + P);
        r = pagemapIoctl(middle, 2 * P, 1, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN | PAGE_IS_HUGE);
        assertEquals(1, r.regions().size(), "only two middle pages dirty");
        assertEquals(middle, r.regions().get(0).start());
        assertEquals(2, r.regions().get(0).pages());
    }

    // selftest: pagemap_ioctl.c base_tests() + uffd_wp_unpopulated_test, with the
    // categories the 6.18 kernel reports at each step (scenario 52)
    @Test
    void baseTestsAnonCategories() {
        long a = anon(8);
        mm.writeLong(a, 1);
        mm.writeLong(a + P, 1);
        assertArrayEquals(new long[] {0xa, 0xa, 2, 2, 2, 2, 2, 2}, categories(a, 8), "before register");
        UserfaultfdCtx u = uffd(INIT_FEATURES);
        u.register(a, 8 * P, REGISTER_MODE_WP);
        assertArrayEquals(new long[] {0xb, 0xb, 3, 3, 3, 3, 3, 3}, categories(a, 8), "after register");
        wpRange(u, a, 8 * P, true);
        assertArrayEquals(new long[] {9, 9, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11}, categories(a, 8), "protected");
        assertTrue(uffdWpBit(pagemap(a)) && Pagemap.present(pagemap(a)));
        assertTrue(uffdWpBit(pagemap(a + 2 * P)) && (pagemap(a + 2 * P) & Pagemap.PM_SWAP) != 0);

        mm.writeLong(a, 2);
        mm.writeLong(a + 3 * P, 2);
        assertEquals(0, mm.readLong(a + 4 * P));
        assertArrayEquals(new long[] {0xb, 9, 0x11, 0xb, 0x29, 0x11, 0x11, 0x11}, categories(a, 8),
                "written pages resolve themselves");
        assertNull(u.read(0), "no messages in async mode");
        mm.writeLong(a + 4 * P, 2);
        assertEquals(0xb, categories(a, 8)[4], "COW of the protected zero page");

        mm.madvise(a + P, P, Mmap.Advice.DONTNEED);
        mm.madvise(a + 5 * P, P, Mmap.Advice.DONTNEED);
        assertEquals(3, categories(a, 8)[1], "zap of a protected page reads as written");
        assertEquals(3, categories(a, 8)[5], "zap of a marker reads as written");
        wpRange(u, a + 6 * P, P, false);
        wpRange(u, a, P, false);
        assertEquals(3, categories(a, 8)[6]);

        PagemapScan.Result r = written(a, 8 * P, 16, PM_SCAN_WP_MATCHING, 0);
        assertEquals(List.of(new PagemapScan.Region(a, a + 2 * P, PAGE_IS_WRITTEN),
                new PagemapScan.Region(a + 3 * P, a + 7 * P, PAGE_IS_WRITTEN)), r.regions());
        assertEquals(a + 8 * P, r.walkEnd());
        assertEquals(0, written(a, 8 * P, 16, 0, 0).regions().size(), "WP_MATCHING protected everything");
        for (int i : new int[] {1, 5, 6}) {
            assertEquals(0x11, categories(a, 8)[i], "page " + i + " holds a marker again");
        }
    }

    // selftest: pagemap_ioctl.c base_tests() on shmem with its alias ("File anonymous
    // memory testing", scenario 50): markers on none ptes, refaults keep the bit
    @Test
    void baseTestsShmemMarkers() {
        var f = shmemFile(8);
        long sh = mapShared(f);
        long alias = mapShared(f);
        for (int i = 0; i < 4; i++) {
            mm.writeLong(sh + i * P, 10 + i);
        }
        UserfaultfdCtx u = uffd(INIT_FEATURES);
        u.register(sh, 8 * P, REGISTER_MODE_WP);
        assertArrayEquals(new long[] {0xf, 0xf, 0xf, 0xf, 3, 3, 3, 3}, categories(sh, 8), "registered");
        wpRange(u, sh, 8 * P, true);
        assertArrayEquals(new long[] {0xd, 0xd, 0xd, 0xd, 0x11, 0x11, 0x11, 0x11}, categories(sh, 8), "protected");

        mm.madvise(sh, P, Mmap.Advice.DONTNEED);
        assertEquals(0x11, categories(sh, 8)[0], "DONTNEED of a protected shmem page leaves a marker");
        assertEquals(10, mm.readLong(sh));
        assertTrue(uffdWpBit(pagemap(sh)) && Pagemap.present(pagemap(sh)), "refault keeps the bit");
        mm.writeLong(sh, 20);
        assertFalse(uffdWpBit(pagemap(sh)));

        mm.writeLong(alias + P, 21);
        assertTrue(uffdWpBit(pagemap(sh + P)), "a write through the unregistered alias is not tracked");

        mm.madvise(sh + 2 * P, P, Mmap.Advice.REMOVE);
        assertEquals(0x11, categories(sh, 8)[2], "hole punch keeps the marker");
        assertEquals(0, mm.readLong(sh + 2 * P));
        assertTrue(uffdWpBit(pagemap(sh + 2 * P)), "fresh page after the hole punch is protected");

        assertEquals(0, mm.readLong(sh + 4 * P));
        assertTrue(uffdWpBit(pagemap(sh + 4 * P)) && Pagemap.present(pagemap(sh + 4 * P)));
        mm.writeLong(sh + 5 * P, 1);
        assertEquals(0xf, categories(sh, 8)[5]);
        wpRange(u, sh + 6 * P, P, false);
        assertEquals(3, categories(sh, 8)[6], "unprotected marker is a none pte again");
        assertEquals(1, mm.readLong(alias + 5 * P), "shared page written through the registered mapping");
    }

    // selftest: pagemap_ioctl.c hpage_unit_tests() (scenario 64)
    @Test
    void hpageUnitTests() {
        long mem = thp(2 * MmConstants.HPAGE_PMD_NR);
        for (long a = mem; a < mem + MmConstants.PMD_SIZE; a += P) {
            mm.writeLong(a, 1);
        }
        assertEquals(0x4a, categories(mem, 1)[0], "populated THP, unregistered");
        UserfaultfdCtx u = wpInit(mem, 2 * MmConstants.PMD_SIZE);
        assertEquals(0x49, categories(mem, 1)[0], "protected THP stays PMD-mapped");
        // WP_MATCHING on a written THP reports it whole and keeps it huge
        wpRange(u, mem, MmConstants.PMD_SIZE, false);
        PagemapScan.Result r = pagemapIoctl(mem, MmConstants.PMD_SIZE, 16, PM_SCAN_WP_MATCHING, 0,
                PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN | PAGE_IS_HUGE);
        assertEquals(List.of(new PagemapScan.Region(mem, mem + MmConstants.PMD_SIZE, 0x42)), r.regions());
        assertEquals(0x49, categories(mem, 1)[0]);
        // one store splits it: only the written 4K page is unprotected
        mm.writeLong(mem + 5 * P, 2);
        long[] c = categories(mem, 8);
        assertArrayEquals(new long[] {9, 9, 9, 9, 9, 0xb, 9, 9}, c);
        // clear first half with limited buffer: max_pages splits and protects only that half
        written(mem, MmConstants.PMD_SIZE, 1, PM_SCAN_WP_MATCHING, 0);
        for (long a = mem; a < mem + MmConstants.PMD_SIZE; a += P) {
            mm.writeLong(a, 3);
        }
        r = written(mem, MmConstants.PMD_SIZE, 16, PM_SCAN_WP_MATCHING, 256);
        assertEquals(List.of(new PagemapScan.Region(mem, mem + 256 * P, PAGE_IS_WRITTEN)), r.regions());
        assertEquals(mem + 256 * P, r.walkEnd());
        r = written(mem, MmConstants.PMD_SIZE, 16, 0, 0);
        assertEquals(List.of(new PagemapScan.Region(mem + 256 * P, mem + 512 * P, PAGE_IS_WRITTEN)), r.regions());
    }

    // selftest: pagemap_ioctl.c test_simple()
    @Test
    void testSimple() {
        long mem = anon(1);
        wpInit(mem, P);
        for (int i = 0; i < 100; i++) {
            assertEquals(0, written(mem, P, 1, 0, 0).regions().size(), "iteration " + i + ": clean");
            wpAddrRange(mem, P);
            mm.writeLong(mem, i);
            assertEquals(1, written(mem, P, 1, 0, 0).regions().size(), "iteration " + i + ": written");
            wpAddrRange(mem, P);
        }
    }

    // selftest: pagemap_ioctl.c mprotect_tests()
    @Test
    void mprotectTests() {
        long mem = anon(2);
        wpInit(mem, 2 * P);
        mm.writeLong(mem, 1);
        mm.writeLong(mem + P, 1);
        assertEquals(2, pages(written(mem, 2 * P, 1, 0, 0)), "both pages written");
        wpAddrRange(mem, 2 * P);
        assertEquals(0, pages(written(mem, 2 * P, 1, 0, 0)));
        mm.mprotect(mem, 2 * P, Mmap.PROT_NONE);
        mm.mprotect(mem, 2 * P, Mmap.PROT_READ);
        mm.mprotect(mem, 2 * P, RW);
        assertEquals(0, pages(written(mem, 2 * P, 1, 0, 0)), "mprotect never creates WRITTEN");
        mm.writeLong(mem, 2);
        mm.writeLong(mem + P, 2);
        mm.mprotect(mem, 2 * P, Mmap.PROT_READ);
        mm.mprotect(mem, 2 * P, RW);
        assertEquals(2, pages(written(mem, 2 * P, 1, 0, 0)), "mprotect never loses WRITTEN");
        wpAddrRange(mem, 2 * P);
        mm.writeLong(mem, 3);
        mm.writeLong(mem + P, 3);
        assertEquals(2, pages(written(mem, 2 * P, 1, 0, 0)));
    }
}
