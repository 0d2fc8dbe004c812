package dev.livemig.mm.proc;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import dev.livemig.mm.vma.Mmap;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * PAGEMAP_SCAN over a 2 MiB range that has no page table (pagemap_scan_pte_hole): the
 * pages are WRITTEN only when the vma is registered for uffd-wp; in any other vma a
 * never-faulted THP range is not written.
 */
class PagemapScanPmdHoleTest {
    private static final long WRITTEN = PagemapScan.PAGE_IS_WRITTEN;

    private static List<PagemapScan.Region> scanWritten(MmStruct mm, long start, long len) {
        PagemapScan.Arg arg = PagemapScan.Arg.of(start, start + len).withMasks(0, 0, 0, WRITTEN);
        return PagemapScan.scan(mm, arg).regions();
    }

    private static long mapThp(MmStruct mm, long len) {
        long base = mm.mmap(len, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);
        mm.madvise(base, len, Mmap.Advice.HUGEPAGE);
        return base;
    }

    @Test
    void untouchedThpRangeOfUnregisteredVmaIsNotWritten() {
        try (Kernel k = new Kernel()) {
            MmStruct mm = k.newMm();
            long base = mapThp(mm, 2 * PMD_SIZE);
            mm.writeLong(base, 1);

            List<PagemapScan.Region> r = scanWritten(mm, base, 2 * PMD_SIZE);

            assertEquals(List.of(new PagemapScan.Region(base, base + PMD_SIZE, WRITTEN),
                    new PagemapScan.Region(base + PMD_SIZE, base + 2 * PMD_SIZE, 0)), r);
        }
    }

    @Test
    void untouchedThpRangeOfUffdWpVmaIsWritten() {
        try (Kernel k = new Kernel()) {
            MmStruct mm = k.newMm();
            long base = mapThp(mm, PMD_SIZE);
            UserfaultfdCtx u = mm.userfaultfd();
            u.api(0);
            u.register(base, PMD_SIZE, UserfaultfdCtx.REGISTER_MODE_WP);

            List<PagemapScan.Region> r = scanWritten(mm, base, PMD_SIZE);

            assertEquals(List.of(new PagemapScan.Region(base, base + PMD_SIZE, WRITTEN)), r);
            assertEquals(PMD_SIZE / PAGE_SIZE, r.get(0).pages());
        }
    }
}
