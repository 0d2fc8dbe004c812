package dev.livemig.migration.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.vma.Mmap;
import org.junit.jupiter.api.Test;

class PageChecksumsTest {
    private static final long MIB = 1 << 20;

    /** The PAGEMAP_SCAN fast path agrees with one pagemap read per page, in every region kind. */
    @Test
    void presentPages_matchesThePagemapEntryOfEveryPage() {
        try (Kernel k = new Kernel(new Kernel.Config());
             Guest g = Guest.create(k, GuestSpec.builder()
                     .region(new RegionSpec("anon", RegionKind.ANON, 6 * MIB, 0.3, 0.2))
                     .region(new RegionSpec("thp", RegionKind.THP, 8 * MIB, 0.4, 0.0))
                     .region(new RegionSpec("shmem", RegionKind.SHMEM, 4 * MIB, 0.5, 0.1))
                     .region(new RegionSpec("hugetlb", RegionKind.HUGETLB, 8 * MIB, 0.5, 0.0))
                     .seed(7).build())) {
            GuestLayout layout = g.layout();
            // holes punched into a populated THP and a populated range: partial huge pages
            long thp = layout.region("thp").startAddress();
            g.mm().madvise(thp + 2 * MIB + 4096 * 3, 4096 * 5, Mmap.Advice.DONTNEED);
            boolean[] fast = PageChecksums.presentPages(g.mm(), layout);
            int present = 0;
            for (int i = 0; i < layout.pages(); i++) {
                assertEquals(PageChecksums.present(g.mm(), layout.pageAddress(i)), fast[i], "page " + i);
                present += fast[i] ? 1 : 0;
            }
            assertTrue(present > 0 && present < layout.pages(), "a partly populated guest: " + present);
        }
    }
}
