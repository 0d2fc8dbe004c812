package dev.livemig.mm.selftests;

import static dev.livemig.mm.proc.PagemapScan.PAGE_IS_WRITTEN;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_CHECK_WPASYNC;
import static dev.livemig.mm.proc.PagemapScan.PM_SCAN_WP_MATCHING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.COPY_MODE_WP;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_MISSING;
import static dev.livemig.mm.uffd.UserfaultfdCtx.REGISTER_MODE_WP;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Errno;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.debug.MmVerify;
import dev.livemig.mm.shmem.ShmemFile;
import dev.livemig.mm.uffd.PageSource;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Many threads on one mm under the split page-table locks: guest stores and faults in
 * several PMD slots at once, PAGEMAP_SCAN(WP_MATCHING) and UFFDIO_WRITEPROTECT walking
 * the same region, sync MISSING and WP faults resolved by UFFDIO_COPY and
 * UFFDIO_WRITEPROTECT from a monitor while a second thread places pages, forks whose
 * children break COW, and two mappings of one shmem file faulted from both ends so that
 * their faults race to fill each page-cache index. Afterwards every folio's refcount and
 * mapcounts must match the page tables and caches ({@link MmVerify}), and every page must
 * hold exactly what its last writer stored. Iteration counts bound the run; nothing is
 * timed.
 */
class SplitPtlockStressTest extends MmTestBase {
    /** Four PMD slots for the tracked region, two for the post-copy one, two for the file. */
    private static final int TRACKED_PAGES = 2048;
    private static final int POSTCOPY_PAGES = 1024;
    private static final int FILE_PAGES = 1024;
    private static final int WRITERS = 2;
    private static final int WRITES = 20_000;
    private static final int INCREMENTS = 4_000;
    private static final int SHARED_WRITES = 4_000;
    private static final int FORKS = 6;

    /** Tracked pages with {@code p % 4 >= WRITERS} are cold: set once, never stored to by the parent again. */
    private static long coldValue(int p) {
        return p * 31L + 7;
    }

    private static long encode(int writer, long seq) {
        return ((long) writer << 32) | seq;
    }

    /** copy_page_retry(): another thread may have placed the page first; then wake the faulter. */
    private static void place(UserfaultfdCtx u, long addr) {
        try {
            u.copy(addr, P, COPY_MODE_WP, PageSource.ofValue(0));
        } catch (KernelException e) {
            if (e.errno() != Errno.EEXIST) {
                throw e;
            }
            u.wakeIoctl(addr, P);
        }
    }

    private static void await(CyclicBarrier b) {
        try {
            b.await(WAIT_NS, TimeUnit.NANOSECONDS);
        } catch (Exception e) {
            throw new AssertionError("the other thread did not reach the barrier", e);
        }
    }

    @Test
    void faultsScansCopiesWriteprotectAndForksKeepTheMmConsistent() {
        long tracked = anon(TRACKED_PAGES);
        long postcopy = anon(POSTCOPY_PAGES);
        ShmemFile file = shmemFile(FILE_PAGES);
        long shared1 = mapShared(file);
        long shared2 = mapShared(file);
        for (int p = 0; p < TRACKED_PAGES; p++) {
            mm.writeLong(tracked + p * P, p % 4 < WRITERS ? 0 : coldValue(p));
        }
        UserfaultfdCtx async = uffd(UffdWpAsyncTest.INIT_FEATURES);
        async.register(tracked, TRACKED_PAGES * P, REGISTER_MODE_WP);
        UserfaultfdCtx sync = uffd(UffdFeatures.PAGEFAULT_FLAG_WP);
        sync.register(postcopy, POSTCOPY_PAGES * P, REGISTER_MODE_MISSING | REGISTER_MODE_WP);

        AtomicBoolean running = new AtomicBoolean(true);
        AtomicLong[] started = {new AtomicLong(), new AtomicLong()};
        long[][] lastTracked = new long[WRITERS][TRACKED_PAGES];
        long[][] increments = new long[WRITERS][POSTCOPY_PAGES];
        long[][] lastShared = new long[WRITERS][FILE_PAGES];
        AtomicInteger scans = new AtomicInteger();
        AtomicInteger resolved = new AtomicInteger();
        List<String> childProblems = new ArrayList<>();
        List<CompletableFuture<Void>> guests = new ArrayList<>();

        // vCPUs: stores to their own tracked pages (WP_ASYNC faults), then read-modify-write
        // of their own post-copy pages (sync MISSING and WP faults)
        for (int t = 0; t < WRITERS; t++) {
            int w = t;
            Random rnd = new Random(100 + t);
            guests.add(async(() -> {
                for (long seq = 1; seq <= WRITES; seq++) {
                    int p = rnd.nextInt(TRACKED_PAGES / 4) * 4 + w;
                    started[w].set(seq); // before the store: a child forked later may hold it
                    mm.writeLong(tracked + p * P, encode(w, seq));
                    lastTracked[w][p] = encode(w, seq);
                }
                for (int k = 0; k < INCREMENTS; k++) {
                    int p = rnd.nextInt(POSTCOPY_PAGES / WRITERS) * WRITERS + w;
                    long a = postcopy + p * P;
                    mm.writeLong(a, mm.readLong(a) + 1);
                    increments[w][p]++;
                }
            }));
        }
        // two threads fault the file in through different mappings in step (a barrier per
        // page), so both race to fill every index, then store through one mapping and load
        // through the other
        CyclicBarrier inStep = new CyclicBarrier(WRITERS);
        for (int t = 0; t < WRITERS; t++) {
            int w = t;
            long mine = t == 0 ? shared1 : shared2;
            long other = t == 0 ? shared2 : shared1;
            Random rnd = new Random(200 + t);
            guests.add(async(() -> {
                for (int p = 0; p < FILE_PAGES; p++) {
                    await(inStep);
                    mm.readLong(mine + p * P);
                }
                for (long seq = 1; seq <= SHARED_WRITES; seq++) {
                    int p = rnd.nextInt(FILE_PAGES / WRITERS) * WRITERS + w;
                    mm.writeLong(mine + p * P, encode(w, seq));
                    assertEquals(encode(w, seq), mm.readLong(other + p * P), "one folio behind both mappings");
                    lastShared[w][p] = encode(w, seq);
                }
            }));
        }
        // the dirty tracker, and a thread write-protecting pieces of the same region
        CompletableFuture<Void> scanner = async(() -> {
            while (running.get()) {
                pagemapIoctl(tracked, TRACKED_PAGES * P, 0, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 0,
                        PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
                scans.incrementAndGet();
            }
        });
        CompletableFuture<Void> protector = async(() -> {
            Random rnd = new Random(300);
            while (running.get()) {
                long start = tracked + rnd.nextInt(TRACKED_PAGES / 64) * 64 * P;
                wpRange(async, start, 64 * P, true);
            }
        });
        // the post-copy side: a monitor resolving faults and a thread pushing every page
        CompletableFuture<Void> monitor = async(() -> {
            while (running.get()) {
                UffdMsg m = sync.read(TimeUnit.MILLISECONDS.toNanos(1));
                if (m == null) {
                    continue;
                }
                long page = m.address() & ~(P - 1);
                if (m.wp()) {
                    wpRange(sync, page, P, false);
                } else {
                    place(sync, page);
                }
                resolved.incrementAndGet();
            }
        });
        CompletableFuture<Void> pusher = async(() -> {
            List<Integer> order = new ArrayList<>();
            for (int p = 0; p < POSTCOPY_PAGES; p++) {
                order.add(p);
            }
            java.util.Collections.shuffle(order, new Random(400));
            for (int p : order) {
                place(sync, postcopy + p * P);
            }
        });
        // fork while all that runs; each child checks what it inherited and breaks COW
        CompletableFuture<Void> forker = async(() -> {
            for (int f = 0; f < FORKS; f++) {
                MmStruct child = mm.fork();
                long[] bound = {started[0].get(), started[1].get()};
                for (int p = 0; p < TRACKED_PAGES; p++) {
                    long v = child.readLong(tracked + p * P);
                    int w = p % 4;
                    String problem = w >= WRITERS
                            ? (v == coldValue(p) ? null : "cold page " + p + " is " + v)
                            : (v == 0 || ((v >>> 32) == w && (v & 0xffff_ffffL) <= bound[w]) ? null
                                    : "page " + p + " holds " + Long.toHexString(v) + ", a store after the fork");
                    if (problem != null) {
                        synchronized (childProblems) {
                            childProblems.add("fork " + f + ": " + problem);
                        }
                    }
                    if (w >= WRITERS) {
                        child.writeLong(tracked + p * P, -p); // COW in the child only
                    }
                }
                for (int p = 0; p < POSTCOPY_PAGES; p += 97) {
                    child.readLong(postcopy + p * P); // unregistered in the child: no userfault
                }
                child.exit();
            }
        });

        guests.forEach(MmTestBase::join);
        join(pusher);
        join(forker);
        running.set(false);
        join(scanner);
        join(protector);
        join(monitor);

        assertEquals(List.of(), childProblems);
        assertTrue(scans.get() > 0 && resolved.get() > 0, "the tracker and the monitor ran");
        assertEquals(List.of(), MmVerify.check(kernel, List.of(file)), "refcounts and mapcounts");
        long[] want = new long[TRACKED_PAGES];
        long[] got = new long[TRACKED_PAGES];
        for (int p = 0; p < TRACKED_PAGES; p++) {
            want[p] = p % 4 < WRITERS ? lastTracked[p % 4][p] : coldValue(p);
            got[p] = mm.readLong(tracked + p * P);
        }
        assertArrayEquals(want, got, "every store to the tracked region kept, no child store leaked in");
        long[] wantCount = new long[POSTCOPY_PAGES];
        long[] gotCount = new long[POSTCOPY_PAGES];
        for (int p = 0; p < POSTCOPY_PAGES; p++) {
            wantCount[p] = increments[p % WRITERS][p];
            gotCount[p] = mm.readLong(postcopy + p * P);
        }
        assertArrayEquals(wantCount, gotCount, "every increment of a post-copy page kept");
        long[] wantShared = new long[FILE_PAGES];
        long[] gotShared = new long[FILE_PAGES];
        for (int p = 0; p < FILE_PAGES; p++) {
            wantShared[p] = lastShared[p % WRITERS][p];
            gotShared[p] = mm.readLong(shared2 + p * P);
        }
        assertArrayEquals(wantShared, gotShared, "the file holds the last store to each page");
        assertEquals(FILE_PAGES, file.cachedFolios(), "one cached folio per index");
    }
}
