package dev.livemig.migration.stats;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;

import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.RegionChecksums;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.proc.PagemapScan;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads guest pages the way the migration does (a load through the process's own
 * mapping, like QEMU reading guest RAM) and checksums them with CRC-32C. A page that is
 * not present is zeros and is never faulted in, so checksumming leaves the address
 * space as it found it.
 */
public final class PageChecksums {
    private PageChecksums() {
    }

    /** Whether page {@code addr} of {@code pageSize} bytes is present (its first 4 KiB is mapped). */
    public static boolean present(MmStruct mm, long addr) {
        // the page table itself rather than a pagemap read: no mmap lock, VMA lookup or
        // entry to build per page (a lookup pass asks this of every page it sends), and the
        // same answer for guest memory, which is never PROT_NONE (PageChecksumsTest)
        return mm.pageMapped(addr);
    }

    /** page_region entries per PAGEMAP_SCAN call; a full vector continues from walk_end. */
    private static final int SCAN_VEC_LEN = 1024;

    /**
     * The presence of every page of the layout: PAGEMAP_SCAN for PAGE_IS_PRESENT region
     * by region, so the cost follows the populated ranges (the walk skips empty page
     * tables) rather than the guest size, as a per-page pagemap read would.
     */
    public static boolean[] presentPages(MmStruct mm, GuestLayout layout) {
        boolean[] out = new boolean[layout.pages()];
        int base = 0;
        for (RegionLayout r : layout.regions()) {
            scanPresent(mm, r, base, r.startAddress(), r.endAddress(), out);
            base += r.pages();
        }
        return out;
    }

    /** Walked at once around a wanted page: one PMD's span, the unit of the page-table walk. */
    private static final long SPAN_BYTES = 2L << 20;

    /**
     * The presence of the pages set in {@code wanted} (the others read false): only the
     * 2 MiB spans that hold a wanted page are walked, adjacent ones in one PAGEMAP_SCAN.
     * A late pre-copy round or a stop-and-copy pass sends a few thousand pages of a guest
     * of millions, and a walk of the whole guest for them (60-200 ms at 4 GiB) would be
     * most of the pass, and of the downtime.
     */
    public static boolean[] presentPages(MmStruct mm, GuestLayout layout, PageBitmap wanted) {
        return presentWalk(mm, layout, wanted).present();
    }

    /**
     * How the present pages among those wanted are found: a PAGEMAP_SCAN walk of every
     * 2 MiB span holding one (a cost per span: cheap per page when the spans are full of
     * wanted pages), or one pagemap entry read per wanted page (a cost per page: cheap when a
     * few pages are scattered over many spans, as a stop-and-copy pass's are).
     */
    public enum PresentMethod { WALK, LOOKUP }

    /**
     * The presence of the wanted pages, how many 2 MiB spans were walked and how many pages
     * were looked up one by one to find it.
     */
    public record PresentWalk(boolean[] present, long spans, long lookups) {
    }

    /** {@link #presentPages(MmStruct, GuestLayout, PageBitmap)}, counting the spans walked. */
    public static PresentWalk presentWalk(MmStruct mm, GuestLayout layout, PageBitmap wanted) {
        boolean[] out = new boolean[layout.pages()];
        long spans = forEachSpanRange(layout, wanted,
                (r, base, from, to) -> scanPresent(mm, r, base, from, to, out));
        return new PresentWalk(out, spans, 0);
    }

    /**
     * The presence of the wanted pages by one pagemap entry each (a hugetlb page's first
     * 4 KiB stands for it, as in {@link #present}): the same answer as {@link #presentWalk},
     * at a cost that follows the pages rather than the spans they are spread over.
     */
    public static PresentWalk presentLookup(MmStruct mm, GuestLayout layout, PageBitmap wanted) {
        boolean[] out = new boolean[layout.pages()];
        long n = 0;
        for (int p = wanted.nextSet(0); p >= 0; p = wanted.nextSet(p + 1)) {
            out[p] = present(mm, layout.pageAddress(p));
            n++;
        }
        return new PresentWalk(out, 0, n);
    }

    /** The presence of the wanted pages, found {@code how}. */
    public static PresentWalk findPresent(MmStruct mm, GuestLayout layout, PageBitmap wanted, PresentMethod how) {
        return switch (how) {
            case WALK -> presentWalk(mm, layout, wanted);
            case LOOKUP -> presentLookup(mm, layout, wanted);
        };
    }

    /**
     * A sample of the lookups a pass would make: the pages looked up in all, and the
     * shortest round's nanoseconds per page (0 if none was wanted).
     */
    public record LookupSample(long pages, double nanosPerPage) {
    }

    /**
     * Looks up (and throws away) the presence of {@code rounds} runs of at most {@code max}
     * consecutive wanted pages, starting at even intervals through the guest: what a pass
     * that walks measures of the other method, so that the next pass can choose between them.
     * Consecutive wanted pages, because that is how a pass looks its pages up: a run has the
     * pass's own density of pages per page table, where a sample spread over the guest would
     * touch a new page table with every lookup. The shortest round, because a short sample is easily stretched
     * many times over by one preemption on a loaded machine, which would rule the lookups
     * out for the rest of the migration.
     */
    public static LookupSample sampleLookups(MmStruct mm, GuestLayout layout, PageBitmap wanted, int max, int rounds) {
        if (max <= 0 || rounds <= 0) {
            throw new IllegalArgumentException("lookup sample of " + max + " pages x " + rounds + " rounds");
        }
        double best = 0;
        long total = 0;
        for (int r = 0; r < rounds; r++) {
            long n = 0;
            long t0 = System.nanoTime();
            for (int p = wanted.nextSet((int) ((long) layout.pages() * r / rounds)); p >= 0 && n < max;
                 p = wanted.nextSet(p + 1)) {
                present(mm, layout.pageAddress(p));
                n++;
            }
            long ns = System.nanoTime() - t0;
            if (n == 0) {
                continue; // nothing wanted from here on
            }
            total += n;
            double perPage = (double) ns / n;
            best = best == 0 ? perPage : Math.min(best, perPage);
        }
        return new LookupSample(total, best);
    }

    /**
     * How many 2 MiB spans {@link #presentWalk} would walk for {@code wanted}, without
     * walking: what a pass over these pages will pay for finding the present ones, which
     * follows the spans they are spread over rather than their number.
     */
    public static long spansOf(GuestLayout layout, PageBitmap wanted) {
        return forEachSpanRange(layout, wanted, (r, base, from, to) -> { });
    }

    /** One range of adjacent spans of region {@code r} (first page {@code base}): [from, to). */
    private interface SpanRange {
        void accept(RegionLayout r, int base, long from, long to);
    }

    /**
     * Calls {@code f} for each range of adjacent 2 MiB spans holding a wanted page, region
     * by region (a range never crosses a region's end); returns the spans covered.
     */
    private static long forEachSpanRange(GuestLayout layout, PageBitmap wanted, SpanRange f) {
        long spans = 0;
        for (int p = wanted.nextSet(0); p >= 0; ) {
            int ri = layout.regionOfPage(p);
            RegionLayout r = layout.regions().get(ri);
            long from = Math.max(r.startAddress(), layout.pageAddress(p) & -SPAN_BYTES);
            long to = Math.min(r.endAddress(), from + SPAN_BYTES);
            int next;
            while ((next = wanted.nextSet(pageAt(r, layout.firstPage(ri), to))) >= 0
                    && layout.regionOfPage(next) == ri && (layout.pageAddress(next) & -SPAN_BYTES) <= to) {
                to = Math.min(r.endAddress(), (layout.pageAddress(next) & -SPAN_BYTES) + SPAN_BYTES);
            }
            f.accept(r, layout.firstPage(ri), from, to);
            spans += (to - from + SPAN_BYTES - 1) / SPAN_BYTES;
            p = next;
        }
        return spans;
    }

    /** The index of the page at {@code addr} in region {@code r} (first page {@code base}); may be past its end. */
    private static int pageAt(RegionLayout r, int base, long addr) {
        return base + (int) ((addr - r.startAddress() + r.pageSizeBytes() - 1) / r.pageSizeBytes());
    }

    /** Marks in {@code out} the present pages of region {@code r} within [from, to). */
    private static void scanPresent(MmStruct mm, RegionLayout r, int base, long from, long to, boolean[] out) {
        long size = r.pageSizeBytes();
        long start = from;
        while (start < to) {
            PagemapScan.Result res = PagemapScan.scan(mm, PagemapScan.Arg.of(start, to)
                    .withMasks(0, PagemapScan.PAGE_IS_PRESENT, 0, PagemapScan.PAGE_IS_PRESENT)
                    .withVec(false, SCAN_VEC_LEN, 0));
            for (PagemapScan.Region pr : res.regions()) {
                // a hugetlb page is mapped (and so present) as a whole
                for (long i = (pr.start() - r.startAddress()) / size; r.startAddress() + i * size < pr.end(); i++) {
                    out[base + (int) i] = true;
                }
            }
            start = res.walkEnd();
        }
    }

    /**
     * Copies page {@code addr} of {@code pageSize} bytes into {@code buf} (which must be
     * that long); returns true if it is all zeros. The page must be present.
     */
    public static boolean read(MmStruct mm, long addr, int pageSize, byte[] buf) {
        return read(mm, addr, pageSize, buf, 0);
    }

    /** As {@link #read(MmStruct, long, int, byte[])}, into {@code buf} from {@code bufOff}. */
    public static boolean read(MmStruct mm, long addr, int pageSize, byte[] buf, int bufOff) {
        for (int off = 0; off < pageSize; off += (int) PAGE_SIZE) {
            mm.readPage(addr + off, buf, bufOff + off);
        }
        return PageTransfer.isZero(buf, bufOff, pageSize);
    }

    /** CRC-32C of one page as it is now (zeros if not present). */
    public static int crc(MmStruct mm, long addr, int pageSize, byte[] buf) {
        if (!present(mm, addr)) {
            return PageTransfer.zeroCrc(pageSize);
        }
        read(mm, addr, pageSize, buf);
        return PageTransfer.crc32c(buf, 0, pageSize);
    }

    /** Checksums of every page of the layout, per region (a stopped guest's memory at pause). */
    public static List<RegionChecksums> of(MmStruct mm, GuestLayout layout) {
        boolean[] present = presentPages(mm, layout);
        List<RegionChecksums> out = new ArrayList<>();
        int base = 0;
        for (RegionLayout r : layout.regions()) {
            int size = (int) r.pageSizeBytes();
            byte[] buf = new byte[size];
            int[] crcs = new int[r.pages()];
            for (int i = 0; i < r.pages(); i++) {
                if (present[base + i]) {
                    read(mm, r.startAddress() + (long) i * size, size, buf);
                    crcs[i] = PageTransfer.crc32c(buf, 0, size);
                } else {
                    crcs[i] = PageTransfer.zeroCrc(size);
                }
            }
            out.add(new RegionChecksums(r.name(), r.startAddress(), size, crcs));
            base += r.pages();
        }
        return out;
    }
}
