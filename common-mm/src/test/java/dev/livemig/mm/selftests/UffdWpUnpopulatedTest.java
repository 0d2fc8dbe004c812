package dev.livemig.mm.selftests;

import static dev.livemig.mm.uffd.UffdFeatures.PAGEFAULT_FLAG_WP;
import static dev.livemig.mm.uffd.UffdFeatures.WP_HUGETLBFS_SHMEM;
import static dev.livemig.mm.uffd.UffdFeatures.WP_UNPOPULATED;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The seed "uffd-wp of none ptes": protecting a never-populated page installs a uffd-wp
 * pte marker, always on file-backed memory and on anonymous memory with
 * UFFD_FEATURE_WP_UNPOPULATED; a fault on the marker installs the page with the bit.
 */
class UffdWpUnpopulatedTest extends MmTestBase {
    /** pagemap bits of a uffd-wp marker: PM_SWAP|PM_UFFD_WP. */
    private static boolean isMarker(long pme) {
        return (pme & (Pagemap.PM_SWAP | Pagemap.PM_UFFD_WP)) == (Pagemap.PM_SWAP | Pagemap.PM_UFFD_WP)
                && !Pagemap.present(pme);
    }

    // selftest: uffd-unit-tests.c "wp-unpopulated" (uffd_wp_unpopulated_test)
    @Test
    void wpUnpopulated() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP | WP_UNPOPULATED);
        long a = anon(4);
        u.register(a, 4 * P, REGISTER_MODE_WP);
        // 1. protect a none pte
        wpRange(u, a, P, true);
        assertTrue(isMarker(pagemap(a)), "marker on an untouched page");
        // 2. unprotect it
        wpRange(u, a, P, false);
        assertEquals(0, pagemap(a));
        // 3. anon zap drops the marker
        wpRange(u, a, P, true);
        mm.madvise(a, P, Mmap.Advice.DONTNEED);
        assertEquals(0, pagemap(a));
        // 4. write to the none pte: not protected
        mm.writeLong(a, 1);
        assertFalse(uffdWpBit(pagemap(a)));
        mm.madvise(a, P, Mmap.Advice.DONTNEED);
        // 5. read of a marker maps the zero page, protected, without hanging
        wpRange(u, a, P, true);
        assertEquals(0, mm.readLong(a));
        long pme = pagemap(a);
        assertTrue(Pagemap.present(pme) && uffdWpBit(pme));
        assertEquals(kernel.physMem().zeroPfn, Pagemap.pfn(pme));
        mm.madvise(a, P, Mmap.Advice.DONTNEED);
    }

    // selftest: uffd-unit-tests.c "wp-unpopulated" contrast (scenario 36): no feature, no marker
    @Test
    void wpUnpopulatedWithoutFeature() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP);
        long a = anon(4);
        u.register(a, 4 * P, REGISTER_MODE_WP);
        wpRange(u, a, 4 * P, true);
        assertEquals(0, pagemap(a));
        mm.writeLong(a, 1);
        assertFalse(uffdWpBit(pagemap(a)), "the new page is not protected");
        assertEquals(null, u.read(0), "and no message was raised");
    }

    /** A sync write fault on a marker: the page is allocated with the bit, then WP is reported. */
    private void writeMarkerSync(UserfaultfdCtx u, long addr) {
        CompletableFuture<Void> w = async(() -> mm.writeLong(addr, 42));
        UffdMsg m = readMsg(u);
        assertEquals(UffdMsg.EVENT_PAGEFAULT, m.event());
        assertEquals(UffdMsg.PAGEFAULT_FLAG_WRITE | UffdMsg.PAGEFAULT_FLAG_WP, m.flags());
        assertEquals(addr, m.address());
        wpRange(u, addr, P, false);
        join(w);
        assertEquals(42, mm.readLong(addr));
    }

    // selftest: uffd-unit-tests.c "wp-unpopulated" on file memory: shmem none ptes always
    // get markers, no feature needed (pte_marker_uffd_wp on file-backed vmas)
    @Test
    void wpUnpopulatedShmem() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP | WP_HUGETLBFS_SHMEM);
        var f = shmemFile(4);
        long sh = mapShared(f);
        long alias = mapShared(f);
        mm.writeLong(alias + 2 * P, 7);
        u.register(sh, 4 * P, REGISTER_MODE_WP);
        wpRange(u, sh, 4 * P, true);
        for (int i = 0; i < 4; i++) {
            assertTrue(isMarker(pagemap(sh + i * P)), "page " + i + " (cached or hole) gets a marker");
        }
        assertEquals(7, mm.readLong(sh + 2 * P), "read through the marker maps the cached page");
        assertTrue(Pagemap.present(pagemap(sh + 2 * P)) && uffdWpBit(pagemap(sh + 2 * P)));
        assertEquals(0, mm.readLong(sh + P));
        assertTrue(Pagemap.present(pagemap(sh + P)) && uffdWpBit(pagemap(sh + P)), "hole page allocated protected");
        writeMarkerSync(u, sh + 3 * P);
        assertEquals(42, mm.readLong(alias + 3 * P), "the write landed in the page cache");
    }

    // selftest: uffd-unit-tests.c "wp-unpopulated" on hugetlb: the marker is a huge entry
    @Test
    void wpUnpopulatedHugetlb() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP | WP_HUGETLBFS_SHMEM);
        long pmd = dev.livemig.mm.MmConstants.PMD_SIZE;
        var f = hugetlbFile(2 * dev.livemig.mm.MmConstants.HPAGE_PMD_NR);
        long h = mapShared(f);
        u.register(h, 2 * pmd, REGISTER_MODE_WP);
        wpRange(u, h, 2 * pmd, true);
        assertEquals(Pagemap.PM_UFFD_WP, pagemap(h), "hugetlb marker shows only bit 57");
        CompletableFuture<Void> w = async(() -> mm.writeLong(h + pmd + 8, 3));
        UffdMsg m = readMsg(u);
        assertEquals(h + pmd, m.address());
        assertTrue(m.wp());
        wpRange(u, h + pmd, pmd, false);
        join(w);
        assertEquals(3, mm.readLong(h + pmd + 8));
        assertEquals(Pagemap.PM_UFFD_WP, pagemap(h), "first huge page still a marker");
    }

    // selftest: uffd-unit-tests.c "wp-unpopulated" anon write (scenario 40): the kernel
    // allocates the page with the bit and then delivers the WP message
    @Test
    void wpUnpopulatedWriteSync() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP | WP_UNPOPULATED);
        long a = anon(2);
        u.register(a, 2 * P, REGISTER_MODE_WP);
        wpRange(u, a, 2 * P, true);
        writeMarkerSync(u, a + P);
    }

    // selftest: uffd-stress.c bounce with MISSING|WP (scenario 41): MISSING beats WP on a marker
    @Test
    void wpUnpopulatedMissingFirst() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP | WP_UNPOPULATED);
        long a = anon(2);
        u.register(a, 2 * P, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
        wpRange(u, a, 2 * P, true);
        CompletableFuture<Void> w = async(() -> mm.writeLong(a, 5));
        UffdMsg m = readMsg(u);
        assertEquals(UffdMsg.PAGEFAULT_FLAG_WRITE, m.flags(), "MISSING first");
        u.copy(a, P, UserfaultfdCtx.COPY_MODE_WP, PageSource.ofValue(1));
        m = readMsg(u);
        assertEquals(UffdMsg.PAGEFAULT_FLAG_WRITE | UffdMsg.PAGEFAULT_FLAG_WP, m.flags(), "then WP");
        wpRange(u, a, P, false);
        join(w);
        assertEquals(5, mm.readLong(a));
        assertErrno(dev.livemig.mm.Errno.EEXIST, () -> u.zeropage(a + P, P, 0));
        u.copy(a + P, P, 0, PageSource.ofValue(9));
        assertFalse(uffdWpBit(pagemap(a + P)), "COW without MODE_WP replaces the marker unprotected");
    }
}
