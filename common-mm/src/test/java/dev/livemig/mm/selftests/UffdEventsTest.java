package dev.livemig.mm.selftests;

import static dev.livemig.mm.uffd.UffdFeatures.EVENT_FORK;
import static dev.livemig.mm.uffd.UffdFeatures.EVENT_REMOVE;
import static dev.livemig.mm.uffd.UffdFeatures.EVENT_UNMAP;
import static dev.livemig.mm.uffd.UffdFeatures.MISSING_SHMEM;
import static dev.livemig.mm.uffd.UffdFeatures.PAGEFAULT_FLAG_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Non-cooperative events FORK / REMOVE / UNMAP (uffd-unit-tests.c uffd_events_test, scenarios 31-33). */
class UffdEventsTest extends MmTestBase {
    private static final int PAGES = 8;

    // selftest: uffd-unit-tests.c "events" (uffd_events_test) and "events-wp" (uffd_events_wp_test)
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void events(boolean wp) {
        UserfaultfdCtx u = uffd(EVENT_FORK | EVENT_REMOVE | EVENT_UNMAP | (wp ? PAGEFAULT_FLAG_WP : 0));
        long dst = anon(PAGES);
        u.register(dst, PAGES * P, REGISTER_MODE_MISSING | (wp ? REGISTER_MODE_WP : 0));
        CompletableFuture<MmStruct> forker = supply(mm::fork);
        UffdMsg fork = readMsg(u);
        assertEquals(UffdMsg.EVENT_FORK, fork.event());
        MmStruct child = result(forker);
        UserfaultfdCtx cu = fork.forkCtx();
        assertNotSame(u, cu);
        assertEquals(child, cu.mm());

        // faulting_process(0) in the child: every page is a missing fault on the child's uffd
        int missing = 0;
        for (int i = 0; i < PAGES; i++) {
            long addr = dst + i * P;
            CompletableFuture<Long> r = supply(() -> child.readLong(addr));
            UffdMsg m = readMsg(cu);
            assertEquals(UffdMsg.EVENT_PAGEFAULT, m.event());
            assertEquals(addr, m.address());
            missing++;
            cu.copy(addr, P, 0, PageSource.ofValue(i + 1));
            assertEquals(i + 1, result(r));
        }
        assertEquals(PAGES, missing);
        assertNull(u.read(0), "the parent's uffd saw none of the child's faults");

        // release_pages(): MADV_DONTNEED reports REMOVE and waits for the monitor
        CompletableFuture<Void> rm = async(() -> child.madvise(dst + 2 * P, 2 * P, Mmap.Advice.DONTNEED));
        UffdMsg remove = readMsg(cu);
        assertEquals(UffdMsg.EVENT_REMOVE, remove.event());
        assertEquals(dst + 2 * P, remove.start());
        assertEquals(dst + 4 * P, remove.end());
        join(rm);

        CompletableFuture<Void> un = async(() -> child.munmap(dst + 6 * P, 2 * P));
        UffdMsg unmap = readMsg(cu);
        assertEquals(UffdMsg.EVENT_UNMAP, unmap.event());
        assertEquals(dst + 6 * P, unmap.start());
        assertEquals(dst + 8 * P, unmap.end());
        join(un);
        assertNull(child.vmas().lookup(dst + 6 * P));
    }

    // selftest: scenario 32: without event features nothing is queued and nobody blocks
    @Test
    void eventsDisabled() {
        UserfaultfdCtx u = uffd(0);
        long dst = anon(4);
        u.register(dst, 4 * P, REGISTER_MODE_MISSING);
        u.copy(dst, 2 * P, 0, PageSource.ofValue(1));
        mm.madvise(dst, P, Mmap.Advice.DONTNEED);
        mm.munmap(dst + 3 * P, P);
        MmStruct child = mm.fork();
        assertNull(u.read(0));
        assertFalse(child.vmas().lookup(dst).uffdMissing(), "the child vma lost its registration");
    }

    // selftest: uffd-unit-tests.c "mmap-changing" (uffd_mmap_changing_test, scenario 33)
    @Test
    void mmapChanging() throws InterruptedException {
        UserfaultfdCtx u = uffd(EVENT_REMOVE | MISSING_SHMEM | PAGEFAULT_FLAG_WP);
        long sh = mapShared(shmemFile(4));
        u.register(sh, 4 * P, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
        CompletableFuture<Void> rm = async(() -> mm.madvise(sh, P, Mmap.Advice.REMOVE));
        for (int i = 0; i < 2000 && !u.hasMessage(); i++) {
            u.awaitMessage(10, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
        assertTrue(u.hasMessage(), "MADV_REMOVE queued its event");
        KernelException copy = assertThrows(KernelException.class, () -> u.copy(sh + P, P, 0, PageSource.ZERO));
        assertEquals(Errno.EAGAIN, copy.errno());
        assertEquals(-11, copy.result());
        KernelException zero = assertThrows(KernelException.class, () -> u.zeropage(sh + P, P, 0));
        assertEquals(-11, zero.result());
        assertErrno(Errno.EAGAIN, () -> wpRange(u, sh, P, true));
        assertFalse(rm.isDone(), "MADV_REMOVE waits for the event to be read");
        UffdMsg m = readMsg(u);
        assertEquals(UffdMsg.EVENT_REMOVE, m.event());
        join(rm);
        assertEquals(P, u.copy(sh + P, P, 0, PageSource.ZERO), "works again once the event was consumed");
        wpRange(u, sh, P, true);
        assertNotNull(mm.vmas().lookup(sh));
    }
}
