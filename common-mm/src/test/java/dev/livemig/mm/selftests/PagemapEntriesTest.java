package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_WRITTEN;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_WP_MATCHING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livemig.mm.Errno;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Exact pagemap words and scan categories the 6.18 kernel reported (scenarios 24, 29, 40, 49, 65). */
class PagemapEntriesTest extends MmTestBase {
    // selftest: uffd-unit-tests.c "wp-unpopulated" pagemap values (scenario 40)
    @Test
    void wpUnpopulatedMarkerEntry() {
        UserfaultfdCtx u = uffd(UffdFeatures.PAGEFAULT_FLAG_WP | UffdFeatures.WP_UNPOPULATED);
        long a = anon(1);
        u.register(a, P, REGISTER_MODE_WP);
        wpRange(u, a, P, true);
        assertEquals(0x420000000000003fL, pagemap(a), "PM_SWAP|PM_UFFD_WP, type 31 offset 1");
        mm.readLong(a);
        assertEquals(Pagemap.PM_PRESENT | Pagemap.PM_UFFD_WP | kernel.physMem().zeroPfn, pagemap(a));
    }

    // selftest: uffd-unit-tests.c "poison" (uffd_poison_test, scenario 29)
    @Test
    void poisonEntry() {
        UserfaultfdCtx u = uffd(UffdFeatures.POISON);
        long a = anon(1);
        long ioctls = u.register(a, P, REGISTER_MODE_MISSING);
        assertEquals(1L << 8, ioctls & (1L << 8), "POISON ioctl offered");
        assertEquals(P, u.poison(a, P, 0));
        assertEquals(Pagemap.PM_SWAP | 0x5f, pagemap(a));
        assertEquals(PagemapScan.PAGE_IS_SWAPPED | PAGE_IS_WRITTEN, categories(a, 1)[0]);
        assertErrno(Errno.EEXIST, () -> u.poison(a, P, 0));
    }

    // selftest: uffd-unit-tests.c "zeropage" extra checks (scenario 24)
    @Test
    void zeropageEntry() {
        UserfaultfdCtx u = uffd(0);
        long a = anon(1);
        u.register(a, P, REGISTER_MODE_MISSING);
        u.zeropage(a, P, 0);
        assertEquals(Pagemap.PM_PRESENT | kernel.physMem().zeroPfn, pagemap(a), "no EXCLUSIVE, no FILE");
        assertEquals(0x2a, categories(a, 1)[0]);
    }

    // selftest: pagemap_ioctl.c zeropfn_tests() huge zero page (scenario 65)
    @Test
    void zeropfnTestsHugeZeroPage() {
        long t = thp(HPAGE_PMD_NR);
        mm.readLong(t);
        long pme = pagemap(t + 5 * P);
        assertEquals(Pagemap.PM_PRESENT | Pagemap.PM_FILE, pme & ~Pagemap.PM_PFN_MASK, "huge zero page quirk: PM_FILE");
        assertEquals(kernel.physMem().hugeZeroPfn + 5, Pagemap.pfn(pme));
        UserfaultfdCtx u = uffd(UffdWpAsyncTest.INIT_FEATURES);
        u.register(t, PMD_SIZE, REGISTER_MODE_WP);
        wpRange(u, t, PMD_SIZE, true);
        assertEquals(0x69, categories(t, 1)[0]);
        mm.writeLong(t + 3 * P, 1);
        long[] c = categories(t, HPAGE_PMD_NR);
        assertArrayEquals(new long[] {0x29, 0x29, 0x29, 0xb, 0x29}, java.util.Arrays.copyOf(c, 5));
        assertEquals(0x29, c[HPAGE_PMD_NR - 1]);
    }

    // selftest: pagemap_ioctl.c base_tests("Hugetlb ...") async, partial huge page (scenario 49)
    @Test
    void hugetlbAsyncPartial() {
        var f = hugetlbFile(2 * HPAGE_PMD_NR);
        long h = mapPrivate(f);
        mm.writeLong(h, 1);
        UserfaultfdCtx u = uffd(UffdWpAsyncTest.INIT_FEATURES);
        u.register(h, 2 * PMD_SIZE, REGISTER_MODE_WP);
        assertErrno(Errno.EINVAL, () -> wpRange(u, h, P, true));
        long[] c = categories(h, 2 * HPAGE_PMD_NR);
        assertEquals(0x4b, c[0]);
        assertEquals(0x41, c[HPAGE_PMD_NR], "unpopulated hugetlb is not WRITTEN");
        wpRange(u, h, 2 * PMD_SIZE, true);
        c = categories(h, 2 * HPAGE_PMD_NR);
        assertEquals(0x49, c[0]);
        assertEquals(0x51, c[HPAGE_PMD_NR]);
        assertEquals(Pagemap.PM_UFFD_WP, pagemap(h + PMD_SIZE), "hugetlb marker: only bit 57");
        mm.writeLong(h + 8, 2);
        assertEquals(0x4b, categories(h, 1)[0]);
        PagemapScan.Result r = pagemapIoctl(h, 2 * PMD_SIZE, 16, PM_SCAN_WP_MATCHING, 100, PAGE_IS_WRITTEN, 0, 0,
                PAGE_IS_WRITTEN);
        assertEquals(List.of(), r.regions(), "a huge page cannot be reported in part");
        assertEquals(h, r.walkEnd());
        assertEquals(0x4b, categories(h, 1)[0], "nothing protected");
        r = pagemapIoctl(h, 2 * PMD_SIZE, 16, PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
        assertEquals(List.of(new PagemapScan.Region(h, h + PMD_SIZE, PAGE_IS_WRITTEN)), r.regions());
        assertEquals(0x49, categories(h, 1)[0]);
        mm.writeLong(h + PMD_SIZE, 3);
        assertEquals(0x4b, categories(h + PMD_SIZE, 1)[0], "write to the marker huge page");
    }
}
