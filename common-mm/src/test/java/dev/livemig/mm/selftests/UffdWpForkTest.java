package dev.livemig.mm.selftests;

import static dev.livemig.mm.uffd.UffdFeatures.EVENT_FORK;
import static dev.livemig.mm.uffd.UffdFeatures.PAGEFAULT_FLAG_WP;
import static dev.livemig.mm.uffd.UffdFeatures.WP_ASYNC_MAINLINE;
import static dev.livemig.mm.uffd.UffdFeatures.WP_HUGETLBFS_SHMEM;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.MmConstants;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The seed "uffd-wp on shmem across fork": page tables, uffd-wp bits and pte markers are
 * copied into the child only when the child vma stays uffd-wp (EVENT_FORK); otherwise the
 * child vma is unregistered before copy_page_range() and shared file vmas are not copied
 * at all (vma_needs_copy).
 */
class UffdWpForkTest extends MmTestBase {
    private static final long FEATURES = PAGEFAULT_FLAG_WP | WP_HUGETLBFS_SHMEM;

    /** pagemap_test_fork(): forks (with a thread consuming EVENT_FORK) and returns the child. */
    private MmStruct forkWithEvent(UserfaultfdCtx u, boolean withEvent) {
        CompletableFuture<UffdMsg> consumer = withEvent
                ? supply(() -> readMsg(u)) : null;
        MmStruct child = mm.fork();
        if (consumer != null) {
            UffdMsg m = result(consumer);
            assertEquals(UffdMsg.EVENT_FORK, m.event());
            assertNotNull(m.forkCtx());
            assertEquals(child, m.forkCtx().mm());
        }
        return child;
    }

    /** pagemap_test_fork() body: the child's view of the first page of the area. */
    private boolean childWp(UserfaultfdCtx u, boolean withEvent, long addr) {
        MmStruct child = forkWithEvent(u, withEvent);
        boolean wp = uffdWpBit(pagemap(child, addr));
        child.exit();
        return wp;
    }

    private void wpForkCommon(MemType type, boolean withEvent) {
        UserfaultfdCtx u = uffd(FEATURES | (withEvent ? EVENT_FORK : 0));
        MemType.Area a = type.allocate(this, 4);
        long unit = type.unit();
        u.register(a.dst(), a.pages() * P, REGISTER_MODE_WP);
        mm.writeLong(a.dst(), 1);
        wpRange(u, a.dst(), unit, true);
        assertTrue(uffdWpBit(pagemap(a.dst())));
        assertEquals(withEvent, childWp(u, withEvent, a.dst()), "child wp after fork");
        // zap all the ptes: shared memory leaves a marker behind; MADV_PAGEOUT of anon
        // memory is a no-op without swap, so the protected pte simply stays
        if (type.file) {
            mm.madvise(a.dst(), unit, Mmap.Advice.DONTNEED);
        }
        assertTrue(uffdWpBit(pagemap(a.dst())), "uffd-wp persists across the zap");
        assertEquals(withEvent, childWp(u, withEvent, a.dst()), "child wp after fork of the zapped pte");
        wpRange(u, a.dst(), unit, false);
        assertEquals(false, uffdWpBit(pagemap(a.dst())));
        mm.writeLong(a.dst(), 2);
        assertEquals(false, uffdWpBit(pagemap(a.dst())));
        assertEquals(2, mm.readLong(a.dst()));
    }

    // selftest: uffd-unit-tests.c "wp-fork" (uffd_wp_fork_test)
    @ParameterizedTest
    @EnumSource(MemType.class)
    void wpFork(MemType type) {
        wpForkCommon(type, false);
    }

    // selftest: uffd-unit-tests.c "wp-fork-with-event" (uffd_wp_fork_with_event_test)
    @ParameterizedTest
    @EnumSource(MemType.class)
    void wpForkWithEvent(MemType type) {
        wpForkCommon(type, true);
    }

    private void wpForkPmdCommon(boolean withEvent) {
        UserfaultfdCtx u = uffd(FEATURES | (withEvent ? EVENT_FORK : 0));
        long pmd = MmConstants.PMD_SIZE;
        long area = thp(2 * MmConstants.HPAGE_PMD_NR);
        u.register(area, 2 * pmd, REGISTER_MODE_WP);
        mm.writeLong(area, 1);
        wpRange(u, area, pmd, true);
        for (long a = area; a < area + pmd; a += 64 * P) {
            assertTrue(uffdWpBit(pagemap(a)), "whole THP protected");
        }
        assertTrue((categories(area, 1)[0] & dev.livemig.mm.proc.PagemapScan.PAGE_IS_HUGE) != 0, "still a THP");
        MmStruct child = forkWithEvent(u, withEvent);
        for (long a = area; a < area + pmd; a += 64 * P) {
            assertEquals(withEvent, uffdWpBit(pagemap(child, a)), "child wp of the THP at " + a);
        }
        child.exit();
        wpRange(u, area, pmd, false);
        assertEquals(false, uffdWpBit(pagemap(area)));
        mm.writeLong(area, 2);
        assertEquals(2, mm.readLong(area));
    }

    // selftest: uffd-unit-tests.c "wp-fork-pmd" (uffd_wp_fork_pmd_test)
    @Test
    void wpForkPmd() {
        wpForkPmdCommon(false);
    }

    // selftest: uffd-unit-tests.c "wp-fork-pmd-with-event" (uffd_wp_fork_pmd_with_event_test)
    @Test
    void wpForkPmdWithEvent() {
        wpForkPmdCommon(true);
    }

    /**
     * Pages 0-3 present and protected, 4-7 markers (async WP populates them on protect).
     * Returns the child after fork.
     */
    private MmStruct shmemMarkersForked(boolean withEvent, long[] area) {
        UserfaultfdCtx u = uffd(WP_ASYNC_MAINLINE | (withEvent ? EVENT_FORK : 0));
        var f = shmemFile(8);
        long sh = mapShared(f);
        area[0] = sh;
        for (int i = 0; i < 4; i++) {
            mm.writeLong(sh + i * P, 100 + i);
        }
        u.register(sh, 8 * P, REGISTER_MODE_WP);
        wpRange(u, sh, 8 * P, true);
        return forkWithEvent(u, withEvent);
    }

    // selftest: uffd-unit-tests.c "wp-fork-with-event" on shmem with markers (scenario 42)
    @Test
    void wpForkWithEventShmemMarkers() {
        long[] area = new long[1];
        MmStruct child = shmemMarkersForked(true, area);
        long sh = area[0];
        for (int i = 0; i < 8; i++) {
            long pme = pagemap(child, sh + i * P);
            assertTrue(uffdWpBit(pme), "child page " + i + " keeps uffd-wp");
            assertEquals(i < 4, Pagemap.present(pme), "child page " + i + " present");
            assertEquals(i >= 4, (pme & Pagemap.PM_SWAP) != 0, "child page " + i + " is a marker");
        }
        // a write in the child resolves (async) only the child's pte
        child.writeLong(sh, 7);
        assertEquals(false, uffdWpBit(pagemap(child, sh)));
        assertTrue(uffdWpBit(pagemap(sh)), "parent keeps its protection");
        assertEquals(7, mm.readLong(sh), "shared page written through the child");
        child.writeLong(sh + 5 * P, 9);
        assertEquals(false, uffdWpBit(pagemap(child, sh + 5 * P)));
        assertTrue(uffdWpBit(pagemap(sh + 5 * P)), "parent keeps its marker");
    }

    // selftest: uffd-unit-tests.c "wp-fork" on shmem with markers (scenario 42)
    @Test
    void wpForkShmemMarkers() {
        long[] area = new long[1];
        MmStruct child = shmemMarkersForked(false, area);
        long sh = area[0];
        for (int i = 0; i < 8; i++) {
            assertEquals(0, pagemap(child, sh + i * P), "lazy fork: child page " + i + " has no pte");
        }
        assertNotEquals(0, kernel.liveMms().size());
        assertEquals(101, child.readLong(sh + P), "child faults the page in from the page cache");
        assertEquals(false, uffdWpBit(pagemap(child, sh + P)));
        child.writeLong(sh + 6 * P, 5);
        assertTrue(uffdWpBit(pagemap(sh + 6 * P)), "parent marker untouched by the child's write");
    }
}
