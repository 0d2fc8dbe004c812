package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.uffd.UffdFeatures.EXACT_ADDRESS;
import static dev.livemig.mm.uffd.UffdFeatures.MISSING_HUGETLBFS;
import static dev.livemig.mm.uffd.UffdFeatures.MISSING_SHMEM;
import static dev.livemig.mm.uffd.UserfaultfdCtx.COPY_MODE_DONTWAKE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Assertions;

/**
 * MISSING faults: a guest thread sleeps on a missing page until the monitor (this thread)
 * fills it with UFFDIO_COPY/ZEROPAGE, plus the seed "UFFDIO_COPY into shared hugetlb
 * mappings" (uffd-unit-tests.c with mem type hugetlb).
 */
class UffdMissingTest extends MmTestBase {
    private static final long FEATURES = MISSING_SHMEM | MISSING_HUGETLBFS;

    // selftest: uffd-unit-tests.c uffd_handle_page_fault / __copy_page (scenarios 18, 19)
    @Test
    void missingFaultResolvedByCopy() {
        UserfaultfdCtx u = uffd(FEATURES);
        long a = anon(8);
        u.register(a, 8 * P, REGISTER_MODE_MISSING);
        CompletableFuture<Long> reader = supply(() -> mm.readLong(a + P + 120));
        UffdMsg m = readMsg(u);
        assertEquals(UffdMsg.EVENT_PAGEFAULT, m.event());
        assertEquals(0, m.flags(), "read fault");
        assertEquals(a + P, m.address(), "page aligned");
        assertFalse(reader.isDone());
        assertEquals(P, u.copy(a + P, P, 0, (i, pm, pfn) -> pm.putLong(pfn, 120, 0xabcL)));
        assertEquals(0xabcL, result(reader));

        CompletableFuture<Void> writer = async(() -> mm.writeLong(a + 2 * P, 7));
        m = readMsg(u);
        assertEquals(UffdMsg.PAGEFAULT_FLAG_WRITE, m.flags(), "write fault");
        u.copy(a + 2 * P, P, 0, PageSource.ZERO);
        join(writer);
        assertEquals(7, mm.readLong(a + 2 * P));
    }

    // selftest: uffd-unit-tests.c UFFDIO_COPY_MODE_DONTWAKE + wake_range (scenario 20)
    @Test
    void copyDontwakeThenWake() {
        UserfaultfdCtx u = uffd(0);
        long a = anon(2);
        u.register(a, 2 * P, REGISTER_MODE_MISSING);
        CompletableFuture<Long> reader = supply(() -> mm.readLong(a));
        readMsg(u);
        u.copy(a, P, COPY_MODE_DONTWAKE, PageSource.ofValue(3));
        assertTrue(Pagemap.present(pagemap(a)));
        assertErrno(Errno.EINVAL, () -> u.wakeIoctl(a, 0));
        u.wakeIoctl(a, P);
        assertEquals(3, result(reader));
    }

    // selftest: uffd-unit-tests.c test_uffdio_copy_eexist / retry_copy_page (scenario 21)
    @Test
    void copyEexist() {
        UserfaultfdCtx u = uffd(FEATURES);
        long a = anon(2);
        u.register(a, 2 * P, REGISTER_MODE_MISSING);
        u.copy(a, P, 0, PageSource.ofValue(1));
        KernelException e = Assertions.assertThrows(KernelException.class, () -> u.copy(a, P, 0, PageSource.ofValue(2)));
        assertEquals(Errno.EEXIST, e.errno());
        assertEquals(-17, e.result());
        assertEquals(1, mm.readLong(a), "the first copy stays");
    }

    // selftest: uffd-unit-tests.c (scenario 22) partial COPY stops at the present page
    @Test
    void copyPartial() {
        UserfaultfdCtx u = uffd(0);
        long a = anon(3);
        u.register(a, 3 * P, REGISTER_MODE_MISSING);
        u.copy(a + P, P, 0, PageSource.ofValue(1));
        KernelException e = Assertions.assertThrows(KernelException.class, () -> u.copy(a, 3 * P, 0, PageSource.ZERO));
        assertEquals(Errno.EAGAIN, e.errno());
        assertEquals(P, e.result());
    }

    // selftest: uffd-unit-tests.c "zeropage" (uffd_zeropage_test, scenario 24)
    @Test
    void zeropage() {
        UserfaultfdCtx u = uffd(FEATURES);
        long a = anon(1);
        long ioctls = u.register(a, P, REGISTER_MODE_MISSING);
        assertTrue((ioctls & (1L << UserfaultfdCtx.UFFDIO_ZEROPAGE)) != 0);
        assertEquals(P, u.zeropage(a, P, 0));
        assertEquals(0, mm.readLong(a));
        assertEquals(kernel.physMem().zeroPfn, Pagemap.pfn(pagemap(a)), "maps the zero pfn");
        assertErrno(Errno.EEXIST, () -> u.zeropage(a, P, 0));
    }

    // selftest: uffd-unit-tests.c "zeropage" with mem type hugetlb: no ZEROPAGE ioctl
    @Test
    void zeropageHugetlb() {
        UserfaultfdCtx u = uffd(FEATURES);
        long h = mapShared(hugetlbFile(HPAGE_PMD_NR));
        long ioctls = u.register(h, PMD_SIZE, REGISTER_MODE_MISSING);
        assertEquals(0, ioctls & (1L << UserfaultfdCtx.UFFDIO_ZEROPAGE));
        KernelException e = Assertions.assertThrows(KernelException.class, () -> u.zeropage(h, PMD_SIZE, 0));
        assertEquals(Errno.EINVAL, e.errno());
    }

    // selftest: uffd-unit-tests.c EXACT_ADDRESS feature (scenario 25)
    @Test
    void exactAddress() {
        UserfaultfdCtx u = uffd(EXACT_ADDRESS);
        long a = anon(2);
        u.register(a, 2 * P, REGISTER_MODE_MISSING);
        CompletableFuture<Void> w = async(() -> mm.writeLong(a + P + 0x320, 1));
        assertEquals(a + P + 0x320, readMsg(u).address());
        u.zeropage(a + P, P, 0);
        join(w);
    }

    // selftest: uffd-unit-tests.c "minor"/"sigbus" teardown path (scenario 26): unregister
    // wakes a thread whose fault was read but never resolved
    @Test
    void unregisterWakesPendingFault() {
        UserfaultfdCtx u = uffd(0);
        long a = anon(1);
        u.register(a, P, REGISTER_MODE_MISSING);
        CompletableFuture<Long> reader = supply(() -> mm.readLong(a));
        readMsg(u);
        u.unregister(a, P);
        assertEquals(0, result(reader), "the retried read maps the zero page");
        assertNull(u.read(0));
    }

    // selftest: uffd-unit-tests.c with mem type "hugetlb" (hugetlb_allocate_area: dst + alias,
    // scenario 48) - the seed "UFFDIO_COPY into shared hugetlb mappings": the page lands in
    // the hugetlbfs page cache and is visible through the second mapping
    @Test
    void copyHugetlbShared() {
        UserfaultfdCtx u = uffd(FEATURES);
        var f = hugetlbFile(2 * HPAGE_PMD_NR);
        long sh = mapShared(f);
        long alias = mapShared(f);
        assertEquals(0x10c, u.register(sh, 2 * PMD_SIZE, REGISTER_MODE_MISSING), "BASIC ioctls on hugetlb");
        CompletableFuture<Long> reader = supply(() -> mm.readLong(sh + PMD_SIZE + 12344));
        UffdMsg m = readMsg(u);
        assertEquals(sh + PMD_SIZE, m.address(), "huge page aligned");
        assertErrno(Errno.EINVAL, () -> u.copy(sh + PMD_SIZE, P, 0, PageSource.ZERO));
        assertEquals(PMD_SIZE, u.copy(sh + PMD_SIZE, PMD_SIZE, 0,
                (i, pm, pfn) -> pm.putLong(pfn, 0, 1000 + i)));
        assertEquals(0, result(reader), "offset 12344 of sub-page 3 was never written");
        assertEquals(1, f.cachedFolios(), "the copied page is in the page cache");
        for (int i = 0; i < HPAGE_PMD_NR; i += 97) {
            assertEquals(1000 + i, mm.readLong(alias + PMD_SIZE + i * P), "alias sees sub-page " + i);
        }
        KernelException e = Assertions.assertThrows(KernelException.class,
                () -> u.copy(sh + PMD_SIZE, PMD_SIZE, 0, PageSource.ZERO));
        assertEquals(Errno.EEXIST, e.errno());
        // a page already in the page cache is mapped without a MISSING message
        mm.writeLong(alias, 77);
        assertEquals(77, mm.readLong(sh));
        assertNull(u.read(0));
        // and a write through the registered mapping reaches the alias
        mm.writeLong(sh + PMD_SIZE + 8, 5);
        assertEquals(5, mm.readLong(alias + PMD_SIZE + 8));
    }

    // selftest: uffd-unit-tests.c with mem type "shmem": COPY fills the page cache too
    @Test
    void copyShmemShared() {
        UserfaultfdCtx u = uffd(FEATURES);
        var f = shmemFile(4);
        long sh = mapShared(f);
        long alias = mapShared(f);
        assertEquals(0x13c, u.register(sh, 4 * P, REGISTER_MODE_MISSING));
        CompletableFuture<Long> reader = supply(() -> mm.readLong(sh + 2 * P));
        assertEquals(sh + 2 * P, readMsg(u).address());
        u.copy(sh + 2 * P, P, 0, PageSource.ofValue(9));
        assertEquals(9, result(reader));
        assertEquals(9, mm.readLong(alias + 2 * P));
        assertErrno(Errno.ENOENT, () -> u.copy(alias + 2 * P, P, 0, PageSource.ZERO), "alias not registered");
        // retry_copy_page(): the same file offset through the (registered) alias is EEXIST
        // even though the alias never mapped it - the page cache slot is taken
        u.register(alias, 4 * P, REGISTER_MODE_MISSING);
        u.copy(sh + 3 * P, P, 0, PageSource.ofValue(4));
        assertEquals(0, pagemap(alias + 3 * P));
        assertErrno(Errno.EEXIST, () -> u.copy(alias + 3 * P, P, 0, PageSource.ZERO));
        assertEquals(4, mm.readLong(alias + 3 * P));
    }
}
