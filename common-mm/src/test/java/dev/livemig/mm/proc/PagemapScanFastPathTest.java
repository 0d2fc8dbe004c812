package dev.livemig.mm.proc;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The PAGEMAP_SCAN fast path (category mask and return mask exactly PAGE_IS_WRITTEN),
 * which walks runs of ptes, against the general per-page walk asked the same question
 * another way (anyof = PAGE_IS_WRITTEN): two identical guests get the same random
 * history of writes, reads, MADV_DONTNEED and scans with random ranges, max_pages and
 * vec_len, and must report the same regions and walk_end and end up with the same ptes.
 */
class PagemapScanFastPathTest {
    static final long PAGES = 3 * 512 + 100;

    /** One guest: populated, registered WP_ASYNC, write-protected. */
    static final class Guest implements AutoCloseable {
        final Kernel kernel = new Kernel();
        final MmStruct mm = kernel.newMm();
        final long base = mm.mmap(PAGES * PAGE_SIZE, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);

        Guest() {
            mm.madvise(base, PAGES * PAGE_SIZE, Mmap.Advice.NOHUGEPAGE);
            for (long p = 0; p < PAGES; p += 2) {
                mm.writeLong(base + p * PAGE_SIZE, p);
            }
            UserfaultfdCtx uffd = mm.userfaultfd();
            uffd.api(UffdFeatures.WP_ASYNC_MAINLINE | UffdFeatures.WP_UNPOPULATED);
            uffd.register(base, PAGES * PAGE_SIZE, UserfaultfdCtx.REGISTER_MODE_WP);
            uffd.writeprotect(base, PAGES * PAGE_SIZE, UserfaultfdCtx.WRITEPROTECT_MODE_WP);
        }

        PagemapScan.Result scan(long flags, long page, long n, long vec, long max, long mask, long anyof) {
            return PagemapScan.scan(mm, new PagemapScan.Arg(PagemapScan.ARG_SIZE, flags, base + page * PAGE_SIZE,
                    base + (page + n) * PAGE_SIZE, false, vec, max, 0, mask, anyof, PagemapScan.PAGE_IS_WRITTEN));
        }

        @Override
        public void close() {
            kernel.close();
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void fastPathMatchesGeneralWalk(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        try (Guest fast = new Guest(); Guest general = new Guest()) {
            for (int round = 0; round < 40; round++) {
                int op = rnd.nextInt(10);
                long page = rnd.nextLong(PAGES);
                long n = 1 + rnd.nextLong(Math.min(PAGES - page, 600));
                if (op < 4) {
                    for (long p = page; p < page + n; p += 1 + rnd.nextInt(3)) {
                        fast.mm.writeLong(fast.base + p * PAGE_SIZE, p);
                        general.mm.writeLong(general.base + p * PAGE_SIZE, p);
                    }
                } else if (op == 4) {
                    fast.mm.readLong(fast.base + page * PAGE_SIZE);
                    general.mm.readLong(general.base + page * PAGE_SIZE);
                } else if (op == 5) {
                    fast.mm.madvise(fast.base + page * PAGE_SIZE, n * PAGE_SIZE, Mmap.Advice.DONTNEED);
                    general.mm.madvise(general.base + page * PAGE_SIZE, n * PAGE_SIZE, Mmap.Advice.DONTNEED);
                } else {
                    long flags = PagemapScan.PM_SCAN_CHECK_WPASYNC
                            | (rnd.nextInt(4) > 0 ? PagemapScan.PM_SCAN_WP_MATCHING : 0);
                    long max = rnd.nextBoolean() ? 0 : 1 + rnd.nextLong(PAGES / 4);
                    long vec = 1 + rnd.nextLong(rnd.nextBoolean() ? 4 : 2000);
                    long written = PagemapScan.PAGE_IS_WRITTEN;
                    PagemapScan.Result a = fast.scan(flags, page, n, vec, max, written, 0);
                    PagemapScan.Result b = general.scan(flags, page, n, vec, max, 0, written);
                    assertEquals(b.regions(), a.regions(), "round " + round);
                    assertEquals(b.walkEnd(), a.walkEnd(), "round " + round);
                }
                for (long p = 0; p < PAGES; p++) {
                    assertEquals(general.mm.pgtable().lookup(general.base + p * PAGE_SIZE),
                            fast.mm.pgtable().lookup(fast.base + p * PAGE_SIZE), "pte of page " + p);
                }
            }
        }
    }
}
