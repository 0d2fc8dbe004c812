package dev.livemig.migration.stats;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;

import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.RegionChecksums;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.proc.Pagemap;
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
        return Pagemap.present(Pagemap.read(mm, addr, 1)[0]);
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
            long size = r.pageSizeBytes();
            long start = r.startAddress();
            while (start < r.endAddress()) {
                PagemapScan.Result res = PagemapScan.scan(mm, PagemapScan.Arg.of(start, r.endAddress())
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
            base += r.pages();
        }
        return out;
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
