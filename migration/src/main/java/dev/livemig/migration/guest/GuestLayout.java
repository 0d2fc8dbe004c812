package dev.livemig.migration.guest;

import dev.livemig.migration.guest.GuestSpec.RegionKind;
import java.util.List;

/**
 * Where a guest's regions live in its address space (livemig.v1.GuestLayout), and the
 * numbering of migration pages the engine uses for every bitmap: region by region in
 * address order, one index per page of the region's page size (4 KiB, or 2 MiB for
 * hugetlb). A target maps the regions at the same addresses, so an index means the same
 * page on both nodes.
 */
public record GuestLayout(long sizeBytes, List<RegionLayout> regions, int vcpuCount) {

    /** One region as the target must map it (livemig.v1.RegionLayout). */
    public record RegionLayout(String name, RegionKind kind, long startAddress, long sizeBytes,
                               long pageSizeBytes) {
        public long endAddress() {
            return startAddress + sizeBytes;
        }

        public int pages() {
            return (int) (sizeBytes / pageSizeBytes);
        }

        public boolean contains(long addr) {
            return addr >= startAddress && addr < endAddress();
        }
    }

    public GuestLayout {
        regions = List.copyOf(regions);
        for (int i = 1; i < regions.size(); i++) {
            if (regions.get(i).startAddress() < regions.get(i - 1).endAddress()) {
                throw new IllegalArgumentException("regions must be sorted and disjoint");
            }
        }
    }

    /** Total migration pages. */
    public int pages() {
        int n = 0;
        for (RegionLayout r : regions) {
            n += r.pages();
        }
        return n;
    }

    /** The index of the first page of region {@code r} (in {@link #regions()} order). */
    public int firstPage(int r) {
        int n = 0;
        for (int i = 0; i < r; i++) {
            n += regions.get(i).pages();
        }
        return n;
    }

    /** The region holding page {@code index}. */
    public int regionOfPage(int index) {
        int n = 0;
        for (int i = 0; i < regions.size(); i++) {
            n += regions.get(i).pages();
            if (index < n) {
                return i;
            }
        }
        throw new IndexOutOfBoundsException("page " + index + " of " + n);
    }

    /** The region containing {@code addr}, or -1. */
    public int regionOf(long addr) {
        for (int i = 0; i < regions.size(); i++) {
            if (regions.get(i).contains(addr)) {
                return i;
            }
        }
        return -1;
    }

    /** The migration page containing {@code addr}, or -1 outside every region. */
    public int pageIndex(long addr) {
        int n = 0;
        for (RegionLayout r : regions) {
            if (r.contains(addr)) {
                return n + (int) ((addr - r.startAddress()) / r.pageSizeBytes());
            }
            n += r.pages();
        }
        return -1;
    }

    /** The address of page {@code index}. */
    public long pageAddress(int index) {
        int n = 0;
        for (RegionLayout r : regions) {
            if (index < n + r.pages()) {
                return r.startAddress() + (index - n) * r.pageSizeBytes();
            }
            n += r.pages();
        }
        throw new IndexOutOfBoundsException("page " + index + " of " + n);
    }

    /** The size of page {@code index}. */
    public long pageSize(int index) {
        return regions.get(regionOfPage(index)).pageSizeBytes();
    }

    /** The region called {@code name}, or null. */
    public RegionLayout region(String name) {
        for (RegionLayout r : regions) {
            if (r.name().equals(name)) {
                return r;
            }
        }
        return null;
    }

    /** Bytes covered by the pages set in {@code pages}. */
    public long bytesOf(PageBitmap pages) {
        long bytes = 0;
        int base = 0;
        for (RegionLayout r : regions) {
            bytes += pages.cardinality(base, base + r.pages()) * r.pageSizeBytes();
            base += r.pages();
        }
        return bytes;
    }

    /** The address of 4 KiB guest frame {@code gfn}, counting through the regions' bytes. */
    public long gfnAddress(long gfn) {
        long off = gfn << 12;
        for (RegionLayout r : regions) {
            if (off < r.sizeBytes()) {
                return r.startAddress() + off;
            }
            off -= r.sizeBytes();
        }
        throw new IndexOutOfBoundsException("gfn " + gfn);
    }
}
