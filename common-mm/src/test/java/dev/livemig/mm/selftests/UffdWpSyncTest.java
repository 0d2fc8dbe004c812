package dev.livemig.mm.selftests;

import static dev.livemig.mm.uffd.UffdFeatures.PAGEFAULT_FLAG_WP;
import static dev.livemig.mm.uffd.UffdFeatures.WP_ASYNC_MAINLINE;
import static dev.livemig.mm.uffd.UffdFeatures.WP_HUGETLBFS_SHMEM;
import static dev.livemig.mm.uffd.UserfaultfdCtx.COPY_MODE_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.WRITEPROTECT_MODE_DONTWAKE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.WRITEPROTECT_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.MmConstants;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** Synchronous uffd-wp: the monitor resolves each WP fault (uffd-common.c, scenarios 8, 34-39, 75, 77). */
class UffdWpSyncTest extends MmTestBase {
    // selftest: uffd-common.c uffd_handle_page_fault WP branch + wp_range (scenario 34)
    @Test
    void wpFaultCycle() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP);
        long a = anon(8);
        mm.writeLong(a, 1);
        mm.writeLong(a + P, 1);
        u.register(a, 8 * P, REGISTER_MODE_WP);
        wpRange(u, a, 8 * P, true);
        assertTrue(uffdWpBit(pagemap(a)));
        assertEquals(1, mm.readLong(a), "reads never fault on uffd-wp");
        assertNull(u.read(0));
        CompletableFuture<Void> w = async(() -> mm.writeLong(a, 2));
        UffdMsg m = readMsg(u);
        assertEquals(UffdMsg.PAGEFAULT_FLAG_WRITE | UffdMsg.PAGEFAULT_FLAG_WP, m.flags());
        u.writeprotect(a, P, WRITEPROTECT_MODE_DONTWAKE);
        assertFalse(uffdWpBit(pagemap(a)), "unprotected");
        assertFalse(w.isDone(), "but DONTWAKE leaves the writer asleep");
        u.wakeIoctl(a, P);
        join(w);
        assertEquals(2, mm.readLong(a));
    }

    // selftest: UFFDIO_WRITEPROTECT argument and vma errors (kernel-semantics §8, scenario 35)
    @Test
    void writeprotectErrors() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP | WP_HUGETLBFS_SHMEM);
        long wp = anon(2);
        long miss = anon(2);
        long plain = anon(2);
        u.register(wp, 2 * P, REGISTER_MODE_WP);
        u.register(miss, 2 * P, REGISTER_MODE_MISSING);
        assertErrno(Errno.EINVAL, () -> u.writeprotect(wp, P, WRITEPROTECT_MODE_WP | WRITEPROTECT_MODE_DONTWAKE));
        assertErrno(Errno.EINVAL, () -> u.writeprotect(wp, P, 4));
        assertErrno(Errno.EINVAL, () -> u.writeprotect(wp + 1, P, WRITEPROTECT_MODE_WP));
        assertErrno(Errno.ENOENT, () -> wpRange(u, miss, P, true), "MISSING-only vma");
        assertErrno(Errno.ENOENT, () -> wpRange(u, plain, P, true), "unregistered vma");
        assertErrno(Errno.ENOENT, () -> wpRange(u, wp + 64 * P, P, true), "hole");
        long h = mapShared(hugetlbFile(MmConstants.HPAGE_PMD_NR));
        u.register(h, MmConstants.PMD_SIZE, REGISTER_MODE_WP);
        assertErrno(Errno.EINVAL, () -> wpRange(u, h, P, true), "4 KiB on hugetlb");
    }

    // selftest: uffd-stress.c __copy_page(wp) (scenario 37): COPY_MODE_WP installs protected pages
    @Test
    void copyModeWp() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP);
        long a = anon(2);
        u.register(a, 2 * P, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
        u.copy(a, P, COPY_MODE_WP, PageSource.ofValue(1));
        u.copy(a + P, P, 0, PageSource.ofValue(1));
        assertTrue(uffdWpBit(pagemap(a)));
        assertFalse(uffdWpBit(pagemap(a + P)));
        mm.writeLong(a + P, 2);
        CompletableFuture<Void> w = async(() -> mm.writeLong(a, 2));
        assertTrue(readMsg(u).wp());
        wpRange(u, a, P, false);
        join(w);
        long missOnly = anon(1);
        UserfaultfdCtx v = uffd(0);
        v.register(missOnly, P, REGISTER_MODE_MISSING);
        assertErrno(Errno.EINVAL, () -> v.copy(missOnly, P, COPY_MODE_WP, PageSource.ZERO), "MODE_WP on MISSING-only");
    }

    // selftest: scenario 38-39: unregister clears the bit; mprotect keeps it
    @Test
    void unregisterAndMprotect() {
        UserfaultfdCtx u = uffd(PAGEFAULT_FLAG_WP);
        long a = anon(2);
        mm.writeLong(a, 1);
        mm.writeLong(a + P, 1);
        u.register(a, 2 * P, REGISTER_MODE_WP);
        wpRange(u, a, 2 * P, true);
        mm.mprotect(a, 2 * P, Mmap.PROT_READ);
        mm.mprotect(a, 2 * P, RW);
        assertTrue(uffdWpBit(pagemap(a)), "mprotect keeps uffd-wp");
        CompletableFuture<Void> w = async(() -> mm.writeLong(a + P, 2));
        assertTrue(readMsg(u).wp(), "and the write still faults");
        wpRange(u, a + P, P, false);
        join(w);
        u.unregister(a, 2 * P);
        assertFalse(uffdWpBit(pagemap(a)), "unregister clears the bit");
        mm.writeLong(a, 3);
    }

    // selftest: uffd-common.c uffd_read_msg / uffd_poll_thread (scenario 8): three faults, FIFO
    @Test
    void threeFaultsQueued() {
        UserfaultfdCtx u = uffd(0);
        long a = anon(3);
        u.register(a, 3 * P, REGISTER_MODE_MISSING);
        List<CompletableFuture<Long>> readers = List.of(
                supply(() -> mm.readLong(a)),
                supply(() -> mm.readLong(a + P)),
                supply(() -> mm.readLong(a + 2 * P)));
        Set<Long> addrs = new HashSet<>();
        for (int i = 0; i < 3; i++) {
            addrs.add(readMsg(u).address());
        }
        assertEquals(Set.of(a, a + P, a + 2 * P), addrs);
        u.zeropage(a, 3 * P, 0);
        readers.forEach(MmTestBase::join);
    }

    // selftest: kernel-semantics §9 (scenario 75): an async ctx still delivers MISSING faults
    @Test
    void asyncCtxDeliversMissing() {
        UserfaultfdCtx u = uffd(WP_ASYNC_MAINLINE);
        long a = anon(2);
        mm.writeLong(a, 1);
        u.register(a, 2 * P, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
        wpRange(u, a, 2 * P, true);
        mm.writeLong(a, 2);
        assertNull(u.read(0), "the protected present page resolved silently");
        CompletableFuture<Void> w = async(() -> mm.writeLong(a + P, 2));
        UffdMsg m = readMsg(u);
        assertEquals(UffdMsg.PAGEFAULT_FLAG_WRITE, m.flags());
        u.copy(a + P, P, 0, PageSource.ZERO);
        join(w);
    }

    // selftest: kernel-semantics §7.1/§8 (scenario 77): another uffd of the same mm may operate
    @Test
    void otherUffdOfSameMm() {
        UserfaultfdCtx owner = uffd(PAGEFAULT_FLAG_WP);
        UserfaultfdCtx other = uffd(0);
        long a = anon(2);
        owner.register(a, 2 * P, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
        assertEquals(P, other.copy(a, P, 0, PageSource.ofValue(1)));
        wpRange(other, a, P, true);
        assertTrue(uffdWpBit(pagemap(a)));
        assertEquals(P, other.zeropage(a + P, P, 0));
    }
}
