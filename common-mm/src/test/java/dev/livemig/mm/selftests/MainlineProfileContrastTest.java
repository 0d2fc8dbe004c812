package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.uffd.UffdFeatures.WP_HUGETLBFS_SHMEM;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import org.junit.jupiter.api.Test;

/** The same four checks on a mainline kernel: each v11 difference really is a difference. */
class MainlineProfileContrastTest extends MmTestBase {
    // selftest: test_uffd_api on mainline: bit 14 is POISON, WP_ASYNC (bit 15) implies WP_UNPOPULATED
    @Test
    void mainlineFeatureBits() {
        assertEquals(UffdFeatures.POISON, UffdFeatures.bit("POISON", kernel.profile()));
        UserfaultfdCtx u = uffd(UffdFeatures.WP_ASYNC_MAINLINE);
        assertTrue(u.wpAsync() && u.wpUnpopulated());
    }

    // selftest: pagemap_ioctl.c base_tests() unprotect and hugetlb registration on mainline
    @Test
    void mainlineAllowsUnprotectAndHugetlb() {
        UserfaultfdCtx u = uffd(UffdFeatures.WP_ASYNC_MAINLINE | WP_HUGETLBFS_SHMEM);
        long a = anon(2);
        u.register(a, 2 * P, REGISTER_MODE_WP);
        wpRange(u, a, 2 * P, true);
        wpRange(u, a, P, false);
        long h = mapShared(hugetlbFile(HPAGE_PMD_NR));
        assertEquals(0x14c, u.register(h, PMD_SIZE, REGISTER_MODE_WP));
    }
}
