package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.uffd.UffdFeatures.WP_HUGETLBFS_SHMEM;
import static dev.livemig.mm.uffd.UffdFeatures.WP_UNPOPULATED;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.KernelProfile;
import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import org.junit.jupiter.api.Test;

/**
 * The seed-v11 kernel profile (the WP_ASYNC patch as posted in v11): every listed
 * difference from mainline, each checked against the mainline behaviour it replaces.
 */
class SeedV11ProfileTest extends MmTestBase {
    private static final long V11_WP_ASYNC = 1L << 14;

    @Override
    protected Kernel.Config config() {
        return new Kernel.Config().profile(KernelProfile.SEED_V11);
    }

    private UserfaultfdCtx asyncUffd() {
        return uffd(V11_WP_ASYNC | WP_UNPOPULATED | WP_HUGETLBFS_SHMEM);
    }

    // selftest: pagemap_ioctl.c init_uffd() against v11: WP_ASYNC is bit 14
    @Test
    void wpAsyncIsBit14() {
        assertEquals(V11_WP_ASYNC, UffdFeatures.wpAsync(kernel.profile()));
        assertEquals(V11_WP_ASYNC, UffdFeatures.bit("WP_ASYNC", kernel.profile()));
        assertEquals(-1, UffdFeatures.bit("POISON", kernel.profile()), "bit 14 is not POISON in v11");
        UserfaultfdCtx u = asyncUffd();
        assertTrue(u.wpAsync());
        assertErrno(Errno.EINVAL, () -> mm.userfaultfd().api(UffdFeatures.WP_ASYNC_MAINLINE), "bit 15 does not exist");
        assertEquals(0x7fff, mm.userfaultfd().api(0), "features offered");
    }

    // selftest: test_uffd_api against v11 (scenario 7): WP_ASYNC needs WP_UNPOPULATED
    @Test
    void wpAsyncNeedsWpUnpopulated() {
        assertErrno(Errno.EPERM, () -> mm.userfaultfd().api(V11_WP_ASYNC));
        UserfaultfdCtx u = mm.userfaultfd();
        u.api(V11_WP_ASYNC | WP_UNPOPULATED);
        assertTrue(u.wpAsync() && u.wpUnpopulated());
    }

    // selftest: pagemap_ioctl.c base_tests() unprotect step (scenario 52) against v11
    @Test
    void unprotectInAsyncModeIsEinval() {
        UserfaultfdCtx u = asyncUffd();
        long a = anon(4);
        mm.writeLong(a, 1);
        u.register(a, 4 * P, REGISTER_MODE_WP);
        wpRange(u, a, 4 * P, true);
        assertErrno(Errno.EINVAL, () -> wpRange(u, a, P, false));
        assertTrue(uffdWpBit(pagemap(a)), "still protected");
        // the v11 way to "unprotect": write (async resolves) and re-protect via PAGEMAP_SCAN
        mm.writeLong(a, 2);
        assertFalse(uffdWpBit(pagemap(a)));
        wpAddrRange(a, 4 * P);
        assertTrue(uffdWpBit(pagemap(a)));
    }

    // selftest: pagemap_ioctl.c "Hugetlb shmem testing" against v11 (scenario 14)
    @Test
    void hugetlbAsyncRegisterIsEinval() {
        UserfaultfdCtx u = asyncUffd();
        long h = mapShared(hugetlbFile(HPAGE_PMD_NR));
        assertErrno(Errno.EINVAL, () -> u.register(h, PMD_SIZE, REGISTER_MODE_WP));
        assertEquals(null, mm.vmas().lookup(h).uffdCtx);
        UserfaultfdCtx sync = uffd(UffdFeatures.PAGEFAULT_FLAG_WP | WP_HUGETLBFS_SHMEM);
        assertEquals(0x4c, sync.register(h, PMD_SIZE, REGISTER_MODE_WP) & 0x4c, "a sync ctx may register hugetlb");
    }

    // selftest: pagemap_ioctl.c base_tests() on anon against v11: the tracking itself is the same
    @Test
    void asyncTrackingUnchanged() {
        UserfaultfdCtx u = asyncUffd();
        long a = anon(4);
        u.register(a, 4 * P, REGISTER_MODE_WP);
        wpRange(u, a, 4 * P, true);
        mm.writeLong(a + 2 * P, 1);
        PagemapScan.Result r = pagemapIoctl(a, 4 * P, 4, PagemapScan.PM_SCAN_WP_MATCHING
                | PagemapScan.PM_SCAN_CHECK_WPASYNC, 0, PagemapScan.PAGE_IS_WRITTEN, 0, 0, PagemapScan.PAGE_IS_WRITTEN);
        assertEquals(1, r.regions().size());
        assertEquals(a + 2 * P, r.regions().get(0).start());
        assertEquals(1, r.regions().get(0).pages());
    }
}
