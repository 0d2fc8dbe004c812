package dev.livemig.mm.fault;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.mm.vma.Mmap;
import org.junit.jupiter.api.Test;

/**
 * MADV_DONTNEED over a whole 2 MiB range frees the PTE table it empties
 * (CONFIG_PT_RECLAIM), so the next read fault in a THP vma maps the huge zero page; a
 * DONTNEED of part of the range keeps the table.
 */
class DontneedReclaimsEmptyPteTableTest {
    private static long mapPteMappedRange(MmStruct mm) {
        long base = mm.mmap(PMD_SIZE, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);
        mm.madvise(base, PMD_SIZE, Mmap.Advice.NOHUGEPAGE);
        mm.writeLong(base + 7 * PAGE_SIZE, 42);
        mm.madvise(base, PMD_SIZE, Mmap.Advice.HUGEPAGE);
        return base;
    }

    @Test
    void dontneedOfTheWholeRangeFreesTheTableAndAReadMapsTheHugeZeroPage() {
        try (Kernel k = new Kernel()) {
            MmStruct mm = k.newMm();
            long base = mapPteMappedRange(mm);
            assertEquals(1, mm.pgtable().pteTableCount());

            mm.madvise(base, PMD_SIZE, Mmap.Advice.DONTNEED);

            assertEquals(0, mm.pgtable().pteTableCount());
            assertEquals(0, mm.readLong(base + 300 * PAGE_SIZE));
            long[] pme = Pagemap.read(mm, base, 512);
            for (long e : pme) {
                assertTrue(Pagemap.present(e) && (e & Pagemap.PM_FILE) != 0, "huge zero page: present,file");
            }
        }
    }

    @Test
    void dontneedOfPartOfTheRangeKeepsTheTable() {
        try (Kernel k = new Kernel()) {
            MmStruct mm = k.newMm();
            long base = mapPteMappedRange(mm);

            mm.madvise(base, PMD_SIZE - PAGE_SIZE, Mmap.Advice.DONTNEED);

            assertEquals(1, mm.pgtable().pteTableCount());
            assertEquals(0, mm.readLong(base + 300 * PAGE_SIZE));
            assertEquals(k.physMem().zeroPfn, Pagemap.pfn(Pagemap.read(mm, base + 300 * PAGE_SIZE, 1)[0]));
        }
    }
}
