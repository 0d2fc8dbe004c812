package dev.livemig.mm.proc;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.vma.Mmap;
import org.junit.jupiter.api.Test;

/**
 * PM_MMAP_EXCLUSIVE for a PMD-mapped THP: pagemap_pmd_range_thp() judges every subpage by
 * the mapcount of the head page, so after a forked child COWs one subpage (splitting its
 * own PMD) the parent's entries follow the head page, not their own subpage.
 */
class PagemapThpExclusiveTest {
    private static final int NR = (int) (PMD_SIZE / PAGE_SIZE);

    private static int exclusiveCount(MmStruct mm, long base) {
        int n = 0;
        for (long e : Pagemap.read(mm, base, NR)) {
            if ((e & Pagemap.PM_MMAP_EXCLUSIVE) != 0) {
                n++;
            }
        }
        return n;
    }

    private static long mapWrittenThp(MmStruct mm) {
        long base = mm.mmap(PMD_SIZE, Mmap.PROT_READ | Mmap.PROT_WRITE, false, null, 0, 0);
        mm.madvise(base, PMD_SIZE, Mmap.Advice.HUGEPAGE);
        mm.writeLong(base, 1);
        return base;
    }

    @Test
    void childCowOfATailPageLeavesEveryParentEntryShared() {
        try (Kernel k = new Kernel()) {
            MmStruct parent = k.newMm();
            long base = mapWrittenThp(parent);
            MmStruct child = parent.fork();

            child.writeLong(base + 47 * PAGE_SIZE, 2);

            assertEquals(0, exclusiveCount(parent, base), "head page is still mapped by the child");
        }
    }

    @Test
    void childCowOfTheHeadPageMakesEveryParentEntryExclusive() {
        try (Kernel k = new Kernel()) {
            MmStruct parent = k.newMm();
            long base = mapWrittenThp(parent);
            MmStruct child = parent.fork();

            child.writeLong(base, 2);

            assertEquals(NR, exclusiveCount(parent, base), "only the head page's mapcount counts");
        }
    }
}
