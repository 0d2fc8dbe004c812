package dev.livemig.mm;

import static dev.livemig.mm.MmConstants.PAGE_SHIFT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

/**
 * A populated 4 GiB guest under dirty tracking in a JVM limited to -Xmx1g (failsafe sets
 * it for this test): guest bytes live off-heap, and the heap holds only primitive page
 * tables and one struct-page word per frame, 16 bytes per 4 KiB page in all.
 */
class LargeGuestIT {
    static final long GUEST_BYTES = 4L << 30;
    static final long PAGES = GUEST_BYTES >>> PAGE_SHIFT;

    static PagemapScan.Arg writtenScan(long base) {
        return PagemapScan.Arg.of(base, base + GUEST_BYTES)
                .withFlags(PagemapScan.PM_SCAN_WP_MATCHING | PagemapScan.PM_SCAN_CHECK_WPASYNC)
                .withMasks(0, PagemapScan.PAGE_IS_WRITTEN, 0, PagemapScan.PAGE_IS_WRITTEN)
                .withVec(false, PAGES, 0);
    }

    @Test
    void fourGiBGuestTracksOnePercentWritesWithMetadataUnderOnePercent() {
        try (Kernel kernel = new Kernel()) {
            MmStruct mm = kernel.newMm();
            long base = mm.mmap(GUEST_BYTES, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);
            mm.madvise(base, GUEST_BYTES, Mmap.Advice.NOHUGEPAGE);
            for (long p = 0; p < PAGES; p++) {
                mm.writeLong(base + (p << PAGE_SHIFT), p);
            }
            assertEquals(PAGES, kernel.physMem().allocatedPages());
            assertEquals(PAGES / 512, mm.pgtable().pteTableCount());

            UserfaultfdCtx uffd = mm.userfaultfd();
            uffd.api(UffdFeatures.WP_ASYNC_MAINLINE | UffdFeatures.WP_UNPOPULATED);
            uffd.register(base, GUEST_BYTES, UserfaultfdCtx.REGISTER_MODE_WP);
            uffd.writeprotect(base, GUEST_BYTES, UserfaultfdCtx.WRITEPROTECT_MODE_WP);
            assertEquals(List.of(), PagemapScan.scan(mm, writtenScan(base)).regions(),
                    "nothing is written right after UFFDIO_WRITEPROTECT");

            long[] written = new SplittableRandom(2).longs(0, PAGES).distinct().limit(PAGES / 100).sorted().toArray();
            for (long p : written) {
                mm.writeLong(base + (p << PAGE_SHIFT), ~p);
            }
            PagemapScan.Result scan = PagemapScan.scan(mm, writtenScan(base));
            for (PagemapScan.Region r : scan.regions()) {
                assertEquals(PagemapScan.PAGE_IS_WRITTEN, r.categories());
            }
            long[] reported = scan.regions().stream()
                    .flatMapToLong(r -> LongStream.range(r.start(), r.end()).filter(a -> (a & 4095) == 0))
                    .map(a -> (a - base) >>> PAGE_SHIFT).toArray();
            assertArrayEquals(written, reported, "every written page reported once, and nothing else");
            assertEquals(base + GUEST_BYTES, scan.walkEnd());
            assertEquals(List.of(), PagemapScan.scan(mm, writtenScan(base)).regions(),
                    "WP_MATCHING re-protected every page it reported");
            assertEquals(~written[0], mm.readLong(base + (written[0] << PAGE_SHIFT)));
            long untouched = LongStream.range(0, PAGES).filter(p -> java.util.Arrays.binarySearch(written, p) < 0)
                    .findFirst().orElseThrow();
            assertEquals(untouched, mm.readLong(base + (untouched << PAGE_SHIFT)));

            long pageTables = mm.pgtable().heapBytes();
            long memmap = kernel.physMem().heapBytes();
            double perPage = (double) (pageTables + memmap) / PAGES;
            System.out.printf("4 GiB guest: page tables %d B, struct page words %d B, %.3f B per 4 KiB page%n",
                    pageTables, memmap, perPage);
            assertTrue(pageTables + memmap < GUEST_BYTES / 100, "metadata " + (pageTables + memmap) + " B");
            // 8 B per PTE + 8 B struct page word, plus array headers and the upper levels
            assertTrue(perPage < 16.2, "per-page metadata " + perPage + " B");

            System.gc();
            long heapUsed = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
            assertTrue(heapUsed < 256L << 20, "heap in use after GC: " + (heapUsed >> 20) + " MiB");
        }
    }
}
