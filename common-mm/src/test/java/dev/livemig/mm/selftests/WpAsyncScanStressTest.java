package dev.livemig.mm.selftests;

import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_WRITTEN;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_CHECK_WPASYNC;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_WP_MATCHING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.MmConstants;
import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Guest threads store to random pages of a WP_ASYNC region while a tracker thread loops
 * PAGEMAP_SCAN(WP_MATCHING|CHECK_WPASYNC, WRITTEN) - the dirty tracking loop of the
 * migration engine and of pagemap_ioctl.c transact_test(). No write may be lost.
 *
 * <p>Every event takes a tick of one global clock: a write logs the tick before its store
 * (a) and after it (b); a scan logs the tick before it starts (c) and after it ends (d).
 * The store happens in [a, b] and each page is visited in [c, d]. If the kernel loses no
 * write, the first scan starting after b (or a scan overlapping the write, which may have
 * protected the page after the store) reports the page; a write after the last scan
 * leaves the page WRITTEN. That is the property checked, with bounded iteration counts
 * and no timing.
 */
class WpAsyncScanStressTest extends MmTestBase {
    private static final int PAGES = 1024;
    private static final int WRITERS = 3;
    private static final int WRITES_PER_THREAD = 15_000;
    /** A small vector, so that every scan is a resume loop over walk_end. */
    private static final int VEC_LEN = 37;

    enum Mem { ANON, SHMEM, THP, HUGETLB }

    private record Scan(long c, long d, int[] pages) {
    }

    private final AtomicLong clock = new AtomicLong();

    private long allocate(Mem m) {
        return switch (m) {
            case ANON -> anon(PAGES);
            case SHMEM -> mapShared(shmemFile(PAGES));
            case THP -> thp(PAGES);
            case HUGETLB -> mapShared(hugetlbFile(PAGES));
        };
    }

    /** One full PAGEMAP_SCAN pass over the region, resuming at walk_end. */
    private Scan scanPass(long base) {
        long c = clock.incrementAndGet();
        List<Integer> got = new ArrayList<>();
        long end = base + PAGES * P;
        for (long start = base; start < end; ) {
            PagemapScan.Result r = pagemapIoctl(start, end - start, VEC_LEN,
                    PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
            for (PagemapScan.Region reg : r.regions()) {
                assertEquals(PAGE_IS_WRITTEN, reg.categories());
                for (long a = reg.start(); a < reg.end(); a += P) {
                    got.add((int) ((a - base) / P));
                }
            }
            assertTrue(r.walkEnd() > start, "walk_end makes progress");
            start = r.walkEnd();
        }
        long d = clock.incrementAndGet();
        return new Scan(c, d, got.stream().mapToInt(Integer::intValue).toArray());
    }

    // selftest: pagemap_ioctl.c transact_test() with random pages instead of barriers
    @ParameterizedTest
    @EnumSource(Mem.class)
    void wpAsyncScanStress(Mem m) {
        long base = allocate(m);
        for (long a = base; a < base + PAGES * P; a += P) {
            mm.writeLong(a, 0); // populate (THP: PMD-mapped folios that the writes split)
        }
        UserfaultfdCtx u = uffd(UffdWpAsyncTest.INIT_FEATURES);
        u.register(base, PAGES * P, REGISTER_MODE_WP);
        wpRange(u, base, PAGES * P, true);

        long[][] log = new long[WRITERS][3 * WRITES_PER_THREAD];
        AtomicBoolean writing = new AtomicBoolean(true);
        List<Scan> scans = new ArrayList<>();
        java.util.concurrent.atomic.AtomicInteger passes = new java.util.concurrent.atomic.AtomicInteger();
        CompletableFuture<Void> tracker = async(() -> {
            while (writing.get()) {
                scans.add(scanPass(base));
                passes.incrementAndGet();
            }
        });
        List<CompletableFuture<Void>> writers = new ArrayList<>();
        for (int t = 0; t < WRITERS; t++) {
            long[] mine = log[t];
            Random rnd = new Random(1000 + t);
            writers.add(async(() -> {
                // Halfway through, each writer waits for a whole scan pass that began after it
                // started writing: on a loaded machine the writers could otherwise be done
                // before the tracker ran a second time, and nothing would run concurrently.
                int passesAtStart = passes.get();
                for (int i = 0; i < WRITES_PER_THREAD; i++) {
                    if (i == WRITES_PER_THREAD / 2) {
                        while (passes.get() < passesAtStart + 2) {
                            Thread.onSpinWait();
                        }
                    }
                    int page = rnd.nextInt(PAGES);
                    long a = clock.incrementAndGet();
                    mm.writeLong(base + page * P + 8L * (i & 7), a);
                    long b = clock.incrementAndGet();
                    mine[3 * i] = page;
                    mine[3 * i + 1] = a;
                    mine[3 * i + 2] = b;
                }
            }));
        }
        writers.forEach(MmTestBase::join);
        writing.set(false);
        join(tracker);
        boolean[] writtenAtEnd = new boolean[PAGES];
        for (PagemapScan.Region r : pagemapIoctl(base, PAGES * P, PAGES, 0, 0, PAGE_IS_WRITTEN, 0, 0,
                PAGE_IS_WRITTEN).regions()) {
            for (long a = r.start(); a < r.end(); a += P) {
                writtenAtEnd[(int) ((a - base) / P)] = true;
            }
        }
        assertTrue(scans.size() > 1, "the tracker ran concurrently");
        verifyNoWriteLost(log, scans, writtenAtEnd);
        if (m == Mem.THP) {
            assertTrue(MmConstants.HPAGE_PMD_NR <= PAGES);
        }
    }

    private static void verifyNoWriteLost(long[][] log, List<Scan> scans, boolean[] writtenAtEnd) {
        long[] starts = scans.stream().mapToLong(Scan::c).toArray();
        List<List<Scan>> byPage = new ArrayList<>();
        for (int p = 0; p < PAGES; p++) {
            byPage.add(new ArrayList<>());
        }
        for (Scan s : scans) {
            for (int p : s.pages) {
                byPage.get(p).add(s);
            }
        }
        int lost = 0;
        String firstLost = null;
        long checked = 0;
        for (long[] mine : log) {
            for (int i = 0; i < mine.length; i += 3) {
                int page = (int) mine[i];
                long a = mine[i + 1];
                long b = mine[i + 2];
                int next = Arrays.binarySearch(starts, b);
                next = next >= 0 ? next : -next - 1;
                long nextStart = next < starts.length ? starts[next] : Long.MAX_VALUE;
                boolean reported = false;
                for (Scan s : byPage.get(page)) {
                    if (s.d >= a && s.c <= nextStart) {
                        reported = true;
                        break;
                    }
                }
                // no scan started after the write completed: the page is still WRITTEN
                boolean covered = reported || (nextStart == Long.MAX_VALUE && writtenAtEnd[page]);
                checked++;
                if (!covered) {
                    lost++;
                    if (firstLost == null) {
                        firstLost = "page " + page + " written in [" + a + "," + b + "], next scan starts " + nextStart;
                    }
                }
            }
        }
        assertEquals(WRITERS * (long) WRITES_PER_THREAD, checked);
        assertEquals(0, lost, "writes lost between scan and re-protect (" + scans.size() + " scans); first: "
                + firstLost);
    }
}
