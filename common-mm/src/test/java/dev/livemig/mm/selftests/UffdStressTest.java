package dev.livemig.mm.selftests;

import static dev.livemig.mm.uffd.UserfaultfdCtx.COPY_MODE_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * uffd-stress.c "bounce", bounded: locking threads increment per-page counters in the
 * registered area (every first touch is a MISSING fault, every write after a COPY_MODE_WP
 * a WP fault), a fault thread resolves them (copy_page_retry: EEXIST then WAKE), and a
 * background thread races it by COPYing every page and write-protecting its slice. After
 * each bounce the counters must be exactly the increments made; then the pages are
 * released and the next bounce starts from the previous counters.
 */
class UffdStressTest extends MmTestBase {
    private static final int PAGES = 64;
    private static final int LOCKERS = 3;
    private static final int INCREMENTS = 2_000;
    private static final int BOUNCES = 3;

    private final AtomicLong missingFaults = new AtomicLong();
    private final AtomicLong wpFaults = new AtomicLong();

    /** copy_page(): COPY with MODE_WP, tolerating the race with the other copier. */
    private static void copyPage(UserfaultfdCtx u, long addr, long value) {
        try {
            u.copy(addr, P, COPY_MODE_WP, PageSource.ofValue(value));
        } catch (KernelException e) {
            if (e.errno() != Errno.EEXIST) {
                throw e;
            }
            u.wakeIoctl(addr, P);
        }
    }

    // selftest: uffd-stress.c (bounce loop) on anon and shmem
    @ParameterizedTest
    @EnumSource(value = MemType.class, names = {"ANON", "SHMEM"})
    void uffdStressBounce(MemType type) {
        UserfaultfdCtx u = uffd(UffdFeatures.PAGEFAULT_FLAG_WP | UffdFeatures.MISSING_SHMEM
                | UffdFeatures.WP_HUGETLBFS_SHMEM);
        MemType.Area area = type.allocate(this, PAGES);
        long dst = area.dst();
        long[] src = new long[PAGES];
        Object[] locks = new Object[PAGES];
        for (int i = 0; i < PAGES; i++) {
            locks[i] = new Object();
        }
        for (int bounce = 0; bounce < BOUNCES; bounce++) {
            u.register(dst, PAGES * P, REGISTER_MODE_MISSING | REGISTER_MODE_WP);
            AtomicLongArray increments = new AtomicLongArray(PAGES);
            AtomicBoolean stop = new AtomicBoolean();
            long[] srcNow = src.clone();
            CompletableFuture<Void> faults = async(() -> {
                while (!stop.get()) {
                    UffdMsg m = u.read(TimeUnit.MILLISECONDS.toNanos(1));
                    if (m == null) {
                        continue;
                    }
                    long page = m.address() & ~(P - 1);
                    if (m.wp()) {
                        wpFaults.incrementAndGet();
                        wpRange(u, page, P, false);
                    } else {
                        missingFaults.incrementAndGet();
                        copyPage(u, page, srcNow[(int) ((page - dst) / P)]);
                    }
                }
            });
            CompletableFuture<Void> background = async(() -> {
                for (int i = 0; i < PAGES / 2; i++) {
                    copyPage(u, dst + i * P, srcNow[i]);
                }
                wpRange(u, dst, PAGES / 2 * P, true);
                for (int i = PAGES / 2; i < PAGES; i++) {
                    copyPage(u, dst + i * P, srcNow[i]);
                }
            });
            List<CompletableFuture<Void>> lockers = new ArrayList<>();
            for (int t = 0; t < LOCKERS; t++) {
                Random rnd = new Random(bounce * 10 + t);
                lockers.add(async(() -> {
                    for (int k = 0; k < INCREMENTS; k++) {
                        int i = rnd.nextInt(PAGES);
                        synchronized (locks[i]) {
                            long addr = dst + i * P;
                            mm.writeLong(addr, mm.readLong(addr) + 1);
                            increments.incrementAndGet(i);
                        }
                    }
                }));
            }
            lockers.forEach(MmTestBase::join);
            join(background);
            stop.set(true);
            join(faults);
            // unprotect all, unregister, verify the counters
            wpRange(u, dst, PAGES * P, false);
            u.unregister(dst, PAGES * P);
            long[] got = new long[PAGES];
            long[] want = new long[PAGES];
            for (int i = 0; i < PAGES; i++) {
                got[i] = mm.readLong(dst + i * P);
                want[i] = srcNow[i] + increments.get(i);
            }
            assertArrayEquals(want, got, "bounce " + bounce);
            src = got;
            // release_pages(): the next bounce faults everything in again
            mm.madvise(dst, PAGES * P, type.file ? Mmap.Advice.REMOVE : Mmap.Advice.DONTNEED);
        }
        assertEquals(true, missingFaults.get() + wpFaults.get() > 0, "the fault thread resolved faults");
    }
}
