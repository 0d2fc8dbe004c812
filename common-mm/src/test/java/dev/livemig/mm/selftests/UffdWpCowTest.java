package dev.livemig.mm.selftests;

import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_FILE;
import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_WRITTEN;
import static dev.livemig.mm.uffd.UffdFeatures.EVENT_FORK;
import static dev.livemig.mm.uffd.UffdFeatures.PAGEFAULT_FLAG_WP;
import static dev.livemig.mm.uffd.UffdFeatures.WP_ASYNC_MAINLINE;
import static dev.livemig.mm.uffd.UffdFeatures.WP_HUGETLBFS_SHMEM;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.MmConstants;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The seed "uffd-wp through COW": a protected page shared copy-on-write between parent
 * and child (fork with EVENT_FORK) keeps its uffd-wp bit in every mapping that did not
 * write; the writer's COW copy is a new exclusive page whose write is tracked (async:
 * WRITTEN, sync: a WP message first), and the other side's bit and data survive the copy
 * (mm/memory.c wp_page_copy, mm/hugetlb.c hugetlb_wp; kernel-semantics §11).
 */
class UffdWpCowTest extends MmTestBase {
    private UserfaultfdCtx parentUffd;

    private MmStruct forkWithEvent() {
        CompletableFuture<UffdMsg> consumer = supply(() -> readMsg(parentUffd));
        MmStruct child = mm.fork();
        assertEquals(UffdMsg.EVENT_FORK, result(consumer).event());
        return child;
    }

    private long pfn(MmStruct m, long addr) {
        return Pagemap.pfn(pagemap(m, addr));
    }

    // selftest: uffd-unit-tests.c "wp-fork-with-event" followed by a write in either
    // process (scenario 42: the write clears only the writer's bit)
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void wpForkWithEventCowAsync(boolean childWrites) {
        parentUffd = uffd(WP_ASYNC_MAINLINE | EVENT_FORK);
        long a = anon(4);
        mm.writeLong(a, 11);
        parentUffd.register(a, 4 * P, REGISTER_MODE_WP);
        wpRange(parentUffd, a, 4 * P, true);
        MmStruct child = forkWithEvent();
        long shared = pfn(mm, a);
        assertEquals(shared, pfn(child, a), "COW-shared after fork");
        assertTrue(uffdWpBit(pagemap(child, a)) && uffdWpBit(pagemap(a)));
        assertEquals(0, pagemap(a) & Pagemap.PM_MMAP_EXCLUSIVE, "not exclusive while both map it");

        MmStruct writer = childWrites ? child : mm;
        MmStruct other = childWrites ? mm : child;
        writer.writeLong(a, 22);
        assertNotEquals(shared, pfn(writer, a), "the writer got a copy");
        assertFalse(uffdWpBit(pagemap(writer, a)), "the writer's write was tracked");
        assertEquals(shared, pfn(other, a));
        assertTrue(uffdWpBit(pagemap(other, a)), "the other mapping keeps its protection through the copy");
        assertEquals(11, other.readLong(a), "and its data");
        assertEquals(22, writer.readLong(a));
        other.writeLong(a, 33);
        assertFalse(uffdWpBit(pagemap(other, a)), "the last mapping reuses the page, bit cleared");
        assertEquals(shared, pfn(other, a), "reused, not copied");
    }

    // selftest: uffd-unit-tests.c "wp-fork-with-event" in sync mode: the COW happens only
    // after the monitor resolved the WP fault, the parent is still protected afterwards
    @Test
    void wpForkWithEventCowSync() {
        parentUffd = uffd(PAGEFAULT_FLAG_WP | EVENT_FORK);
        long a = anon(2);
        mm.writeLong(a, 11);
        parentUffd.register(a, 2 * P, REGISTER_MODE_WP);
        wpRange(parentUffd, a, P, true);
        CompletableFuture<UffdMsg> consumer = supply(() -> readMsg(parentUffd));
        MmStruct child = mm.fork();
        UserfaultfdCtx childUffd = result(consumer).forkCtx();
        CompletableFuture<Void> w = async(() -> child.writeLong(a, 22));
        UffdMsg m = readMsg(childUffd);
        assertEquals(UffdMsg.PAGEFAULT_FLAG_WRITE | UffdMsg.PAGEFAULT_FLAG_WP, m.flags());
        assertEquals(a, m.address());
        wpRange(childUffd, a, P, false);
        join(w);
        assertEquals(22, child.readLong(a));
        assertEquals(11, mm.readLong(a));
        assertTrue(uffdWpBit(pagemap(a)), "parent still protected");
        assertFalse(uffdWpBit(pagemap(child, a)));
    }

    // selftest: pagemap_ioctl.c "File memory testing" with MAP_PRIVATE (scenario 51): the
    // COW copy of a protected private file page becomes anon and WRITTEN, the cache page stays
    @Test
    void fileMemoryPrivateCow() {
        var f = shmemFile(4);
        long alias = mapShared(f);
        mm.writeLong(alias, 5);
        long priv = mapPrivate(f);
        assertEquals(5, mm.readLong(priv));
        UserfaultfdCtx u = uffd(WP_ASYNC_MAINLINE);
        u.register(priv, 4 * P, REGISTER_MODE_WP);
        wpRange(u, priv, 4 * P, true);
        assertEquals(0xd, categories(priv, 1)[0]);
        mm.writeLong(priv, 6);
        assertEquals(0xb, categories(priv, 1)[0], "COW copy: anon, present, written");
        assertEquals(0, categories(priv, 1)[0] & PAGE_IS_FILE);
        assertEquals(5, mm.readLong(alias), "the page cache is untouched");
        assertEquals(PAGE_IS_WRITTEN, categories(priv, 1)[0] & PAGE_IS_WRITTEN);
    }

    // selftest: pagemap_ioctl.c base_tests() "Hugetlb" private (scenario 49 + hugetlb_wp):
    // the COW of a protected private hugetlb page after fork keeps the other side protected
    @Test
    void hugetlbPrivateCowAsync() {
        long pmd = MmConstants.PMD_SIZE;
        var f = hugetlbFile(2 * MmConstants.HPAGE_PMD_NR);
        long h = mapPrivate(f);
        mm.writeLong(h, 1);
        parentUffd = uffd(WP_ASYNC_MAINLINE | WP_HUGETLBFS_SHMEM | EVENT_FORK);
        parentUffd.register(h, 2 * pmd, REGISTER_MODE_WP);
        wpRange(parentUffd, h, 2 * pmd, true);
        MmStruct child = forkWithEvent();
        assertTrue(uffdWpBit(pagemap(child, h)));
        child.writeLong(h + 8, 2);
        assertFalse(uffdWpBit(pagemap(child, h)));
        assertTrue(uffdWpBit(pagemap(h)), "parent keeps the protected huge page");
        assertEquals(0, mm.readLong(h + 8));
        assertEquals(2, child.readLong(h + 8));
        assertEquals(1, child.readLong(h));
    }
}
