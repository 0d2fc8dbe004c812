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

    /**
     * A guest with one region of every kind, a hole of {@code holePages} punched at
     * {@code holeOffset} into its populated THP region (a partial huge page), tracked with
     * WP_ASYNC, then {@code writes} random stores at {@code offsetInPage} into its pages.
     */
    private static Guest trackedMixedGuest(Kernel k, long seed, long holeOffset, int holePages,
                                           java.util.SplittableRandom rnd, int writes, int offsetInPage) {
        Guest g = Guest.create(k, GuestSpec.builder()
                .region(new RegionSpec("anon", RegionKind.ANON, 6 * MIB, 0.3, 0.2))
                .region(new RegionSpec("thp", RegionKind.THP, 8 * MIB, 0.4, 0.0))
                .region(new RegionSpec("shmem", RegionKind.SHMEM, 4 * MIB, 0.5, 0.1))
                .region(new RegionSpec("hugetlb", RegionKind.HUGETLB, 8 * MIB, 0.5, 0.0))
                .seed(seed).build());
        GuestLayout layout = g.layout();
        g.mm().madvise(layout.region("thp").startAddress() + holeOffset, 4096L * holePages, Mmap.Advice.DONTNEED);
        dev.livemig.migration.tracker.DirtyTracker.create(
                dev.livemig.migration.MigrationControl.DirtyTrackerKind.WP_ASYNC, g).start();
        for (int i = 0; i < writes; i++) {
            long gfn = rnd.nextLong(layout.sizeBytes() >>> 12);
            g.mm().writeLong(layout.gfnAddress(gfn) + offsetInPage, i + 1);
        }
        return g;
    }

    /**
     * The PAGEMAP_SCAN fast path and the page-table lookup of {@link PageChecksums#present}
     * agree with one pagemap read per page, in every region kind, under WP_ASYNC tracking
     * (uffd-wp markers in none entries of shmem included).
     */
    @Test
    void presentPages_matchesThePagemapEntryOfEveryPage() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        try (Kernel k = new Kernel(new Kernel.Config());
             Guest g = trackedMixedGuest(k, 7, 2 * MIB + 4096 * 3, 5, rnd, 2000, 8)) {
            GuestLayout layout = g.layout();
            boolean[] fast = PageChecksums.presentPages(g.mm(), layout);
            int present = 0;
            for (int i = 0; i < layout.pages(); i++) {
                long addr = layout.pageAddress(i);
                boolean pagemap = dev.livemig.mm.proc.Pagemap.present(dev.livemig.mm.proc.Pagemap.read(g.mm(), addr, 1)[0]);
                assertEquals(pagemap, fast[i], "page " + i);
                assertEquals(pagemap, PageChecksums.present(g.mm(), addr), "page " + i + " by its page table");
                present += fast[i] ? 1 : 0;
            }
            assertTrue(present > 0 && present < layout.pages(), "a partly populated guest: " + present);

            // the walk of the wanted pages' spans only: the same answer for each wanted page
            dev.livemig.migration.guest.PageBitmap wanted = new dev.livemig.migration.guest.PageBitmap(layout.pages());
            for (int i = 0; i < 300; i++) {
                wanted.set(rnd.nextInt(layout.pages()));
            }
            wanted.setRange(0, 700); // a run across two 2 MiB spans
            boolean[] some = PageChecksums.presentPages(g.mm(), layout, wanted);
            int checked = 0;
            for (int i = wanted.nextSet(0); i >= 0; i = wanted.nextSet(i + 1)) {
                assertEquals(fast[i], some[i], "wanted page " + i);
                checked += some[i] ? 1 : 0;
            }
            assertTrue(checked > 0, "some wanted pages are present");
        }
    }

    /**
     * The walk of the wanted pages counts the 2 MiB spans it covered: adjacent spans walk as
     * one range, and a span is counted once however many wanted pages it holds.
     */
    @Test
    void presentWalk_countsTheSpansItCovered() {
        try (Kernel k = new Kernel(new Kernel.Config());
             Guest g = Guest.create(k, GuestSpec.builder()
                     .region(new RegionSpec("anon", RegionKind.ANON, 16 * MIB, 1.0, 0.0))
                     .seed(11).build())) {
            GuestLayout layout = g.layout();
            int perSpan = (int) (2 * MIB / 4096);
            dev.livemig.migration.guest.PageBitmap wanted = new dev.livemig.migration.guest.PageBitmap(layout.pages());
            wanted.set(3);                       // span 0
            wanted.set(7);                       // span 0 again
            wanted.set(perSpan + 1);             // span 1, adjacent: one range of two spans
            wanted.set(5 * perSpan + 100);       // span 5 alone
            wanted.set(7 * perSpan + perSpan - 1); // the last page of span 7
            PageChecksums.PresentWalk w = PageChecksums.presentWalk(g.mm(), layout, wanted);
            assertEquals(4, w.spans());
            for (int i = wanted.nextSet(0); i >= 0; i = wanted.nextSet(i + 1)) {
                assertTrue(w.present()[i], "populated page " + i);
            }
            assertEquals(0, PageChecksums.presentWalk(g.mm(), layout,
                    new dev.livemig.migration.guest.PageBitmap(layout.pages())).spans());
        }
    }

    /**
     * Looking the wanted pages up one by one finds exactly the wanted pages the span walk
     * finds present (and marks no page that was not wanted), in every region kind, with holes punched into
     * populated huge pages and pages written under WP_ASYNC tracking; and it counts its
     * lookups where the walk counts its spans.
     */
    @Test
    void presentLookup_findsExactlyWhatTheWalkFinds() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(5);
        try (Kernel k = new Kernel(new Kernel.Config());
             Guest g = trackedMixedGuest(k, 9, 4096 * 17, 9, rnd, 1000, 0)) {
            GuestLayout layout = g.layout();
            dev.livemig.migration.guest.PageBitmap wanted = new dev.livemig.migration.guest.PageBitmap(layout.pages());
            for (int i = 0; i < 400; i++) {
                wanted.set(rnd.nextInt(layout.pages()));
            }
            wanted.setRange(layout.firstPage(1), layout.firstPage(1) + 600); // the THP region's start, with the hole
            PageChecksums.PresentWalk walk = PageChecksums.findPresent(g.mm(), layout, wanted,
                    PageChecksums.PresentMethod.WALK);
            PageChecksums.PresentWalk lookup = PageChecksums.findPresent(g.mm(), layout, wanted,
                    PageChecksums.PresentMethod.LOOKUP);
            int present = 0;
            int absent = 0;
            for (int i = 0; i < layout.pages(); i++) {
                if (wanted.get(i)) {
                    assertEquals(walk.present()[i], lookup.present()[i], "wanted page " + i);
                    assertEquals(PageChecksums.present(g.mm(), layout.pageAddress(i)), lookup.present()[i], "page " + i);
                    present += lookup.present()[i] ? 1 : 0;
                    absent += lookup.present()[i] ? 0 : 1;
                } else {
                    // the walk marks every present page of the spans it walked; the lookups only the wanted
                    assertEquals(false, lookup.present()[i], "unwanted page " + i);
                }
            }
            assertTrue(present > 0 && absent > 0, present + " present, " + absent + " absent among the wanted");
            assertEquals(wanted.cardinality(), lookup.lookups());
            assertEquals(0, lookup.spans());
            assertEquals(PageChecksums.spansOf(layout, wanted), walk.spans());
            assertEquals(0, walk.lookups());
        }
    }

    /** The lookup sample reads at most its pages a round, of the wanted ones, and refuses an empty sample. */
    @Test
    void sampleLookups_readsAtMostItsPagesOfTheWantedOnes() {
        try (Kernel k = new Kernel(new Kernel.Config());
             Guest g = Guest.create(k, GuestSpec.builder()
                     .region(new RegionSpec("anon", RegionKind.ANON, 16 * MIB, 1.0, 0.0))
                     .seed(11).build())) {
            GuestLayout layout = g.layout();
            dev.livemig.migration.guest.PageBitmap wanted = new dev.livemig.migration.guest.PageBitmap(layout.pages());
            assertEquals(new PageChecksums.LookupSample(0, 0), PageChecksums.sampleLookups(g.mm(), layout, wanted, 50, 3));
            wanted.setRange(0, layout.pages());
            PageChecksums.LookupSample s = PageChecksums.sampleLookups(g.mm(), layout, wanted, 50, 3);
            assertEquals(150, s.pages());
            assertTrue(s.nanosPerPage() > 0, s.toString());
            dev.livemig.migration.guest.PageBitmap few = new dev.livemig.migration.guest.PageBitmap(layout.pages());
            few.set(5);
            few.set(3000);
            // every round finds page 3000 at least, none more than the two wanted
            long n = PageChecksums.sampleLookups(g.mm(), layout, few, 50, 3).pages();
            assertTrue(n >= 3 && n <= 6, n + " lookups");
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> PageChecksums.sampleLookups(g.mm(), layout, few, 0, 3));
        }
    }
}
