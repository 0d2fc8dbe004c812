package dev.livemig.mm.selftests;

import static dev.livemig.mm.MmConstants.HPAGE_PMD_NR;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.SignalException;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import org.junit.jupiter.api.Test;

/** Allocation failures (memory limit, empty hugetlb pool) leave no frame or reference behind. */
class MemoryLimitTest extends MmTestBase {
    @Override
    protected Kernel.Config config() {
        return new Kernel.Config().memoryLimitPages(HPAGE_PMD_NR + 8).nrHugepages(1);
    }

    // selftest: uffd-stress.c under memory pressure: faults fail with SIGBUS, nothing leaks
    @Test
    void anonFaultsBeyondTheLimit() {
        long a = anon(HPAGE_PMD_NR + 64);
        int ok = 0;
        try {
            for (int i = 0; i < HPAGE_PMD_NR + 64; i++) {
                mm.writeLong(a + i * P, i);
                ok++;
            }
        } catch (SignalException e) {
            assertEquals(SignalException.Signal.SIGBUS, e.signal());
        }
        assertEquals(HPAGE_PMD_NR + 8, ok, "every frame up to the limit was used");
        MmStruct child = mm.fork();
        assertThrows(SignalException.class, () -> child.writeLong(a, 1), "COW needs a frame");
        assertEquals(0, child.readLong(a));
    }

    // selftest: UFFDIO_COPY when no frame is left: ENOMEM, the partial copy is kept
    @Test
    void copyBeyondTheLimit() {
        UserfaultfdCtx u = uffd(0);
        long a = anon(HPAGE_PMD_NR + 16);
        u.register(a, (HPAGE_PMD_NR + 16) * P, REGISTER_MODE_MISSING);
        KernelException e = assertThrows(KernelException.class,
                () -> u.copy(a, (HPAGE_PMD_NR + 16) * P, 0, PageSource.ofValue(3)));
        assertEquals(kernel.physMem().allocatedPages(), (HPAGE_PMD_NR + 8));
        assertEquals(3, mm.readLong(a));
        assertEquals(true, e.hasResult());
    }

    // selftest: hugetlb with an exhausted pool: SIGBUS on fault, EINVAL/ENOMEM on COPY
    @Test
    void hugetlbPoolExhausted() {
        var f = hugetlbFile(2 * HPAGE_PMD_NR);
        long h = mapShared(f);
        mm.writeLong(h, 1);
        assertThrows(SignalException.class, () -> mm.writeLong(h + PMD_SIZE, 1));
        UserfaultfdCtx u = uffd(UffdFeatures.MISSING_HUGETLBFS | UffdFeatures.PAGEFAULT_FLAG_WP
                | UffdFeatures.WP_HUGETLBFS_SHMEM);
        u.register(h, 2 * PMD_SIZE, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
        assertThrows(KernelException.class, () -> u.copy(h + PMD_SIZE, PMD_SIZE, 0, PageSource.ZERO));
        assertEquals(0, kernel.hugetlbPool().free());
        wpRange(u, h, 2 * PMD_SIZE, true);
        mm.munmap(h, 2 * PMD_SIZE);
        assertEquals(0, kernel.hugetlbPool().free(), "the page cache still holds the page");
    }
}
