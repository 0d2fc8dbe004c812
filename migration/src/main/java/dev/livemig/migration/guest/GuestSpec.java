package dev.livemig.migration.guest;

import static dev.livemig.mm.MmConstants.PAGE_SIZE;
import static dev.livemig.mm.MmConstants.PMD_SIZE;

import java.util.ArrayList;
import java.util.List;

/**
 * Everything needed to create a guest (livemig.v1.GuestSpec): its memory regions, the
 * workload of its vCPU threads and the seed of every random choice. The same spec gives
 * the same initial memory contents and the same write sequence.
 *
 * <p>Zero and "unset" values follow the proto: {@code vcpuCount == 0} means 1,
 * {@code populatedFraction == 0} means fully populated, no regions means one anonymous
 * region of {@code sizeBytes}.
 */
public record GuestSpec(long sizeBytes, List<RegionSpec> regions, Workload workload, long writeRatePagesPerS,
                        long seed, int vcpuCount, double hotSetFraction, double hotSetWriteFraction,
                        double zipfExponent, double readFraction) {

    /** How a region is mapped (livemig.v1.RegionKind, the mmscript mapping kinds). */
    public enum RegionKind {
        /** Private anonymous memory, MADV_NOHUGEPAGE. */
        ANON,
        /** Private anonymous memory, 2 MiB aligned, MADV_HUGEPAGE. */
        THP,
        /** A memfd mapped MAP_SHARED: pages live in the file's page cache. */
        SHMEM,
        /** A hugetlb memfd mapped MAP_SHARED: 2 MiB pages. */
        HUGETLB;

        /** The unit the migration transfers and tracks: 2 MiB for hugetlb, else 4 KiB. */
        public long pageSizeBytes() {
            return this == HUGETLB ? PMD_SIZE : PAGE_SIZE;
        }

        /** The granule the region's size must be a multiple of. */
        public long sizeGranule() {
            return this == HUGETLB || this == THP ? PMD_SIZE : PAGE_SIZE;
        }
    }

    /** What the vCPU threads do to memory (livemig.v1.Workload). */
    public enum Workload {
        /** Writes to pages chosen uniformly at random. */
        UNIFORM,
        /** Most writes go to a hot set of {@code hotSetFraction} of the pages. */
        HOTSET,
        /** Pages chosen with a Zipfian distribution of exponent {@code zipfExponent}. */
        ZIPF,
        /** Writes sweep memory in address order, wrapping around. */
        SEQUENTIAL,
        /** No accesses at all; the vCPUs only tick. */
        IDLE,
        /** {@code readFraction} of the accesses are reads. */
        READ_MOSTLY
    }

    /** One region (livemig.v1.RegionSpec). */
    public record RegionSpec(String name, RegionKind kind, long sizeBytes, double populatedFraction,
                             double zeroPageFraction) {
        public RegionSpec {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("region name missing");
            }
            if (sizeBytes <= 0 || sizeBytes % kind.sizeGranule() != 0) {
                throw new IllegalArgumentException("region " + name + ": size " + sizeBytes
                        + " is not a positive multiple of " + kind.sizeGranule());
            }
            if (populatedFraction < 0 || populatedFraction > 1 || zeroPageFraction < 0 || zeroPageFraction > 1) {
                throw new IllegalArgumentException("region " + name + ": fractions must be in [0, 1]");
            }
        }

        public static RegionSpec of(String name, RegionKind kind, long sizeBytes) {
            return new RegionSpec(name, kind, sizeBytes, 1.0, 0.0);
        }

        /** The fraction of pages populated before the guest starts (0 means all). */
        public double effectivePopulatedFraction() {
            return populatedFraction == 0 ? 1.0 : populatedFraction;
        }
    }

    public GuestSpec {
        regions = regions == null || regions.isEmpty()
                ? List.of(RegionSpec.of("ram0", RegionKind.ANON, sizeBytes)) : List.copyOf(regions);
        long sum = regions.stream().mapToLong(RegionSpec::sizeBytes).sum();
        if (sizeBytes != 0 && sizeBytes != sum) {
            throw new IllegalArgumentException("size " + sizeBytes + " != sum of regions " + sum);
        }
        sizeBytes = sum;
        if (workload == null) {
            workload = Workload.UNIFORM;
        }
        if (vcpuCount <= 0) {
            vcpuCount = 1;
        }
        if (writeRatePagesPerS < 0) {
            throw new IllegalArgumentException("negative write rate");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder with the proto's defaults plus sensible workload parameters. */
    public static final class Builder {
        private long sizeBytes;
        private final List<RegionSpec> regions = new ArrayList<>();
        private Workload workload = Workload.UNIFORM;
        private long writeRatePagesPerS = 1000;
        private long seed = 1;
        private int vcpuCount = 1;
        private double hotSetFraction = 0.1;
        private double hotSetWriteFraction = 0.9;
        private double zipfExponent = 0.99;
        private double readFraction = 0.9;

        public Builder sizeBytes(long v) {
            sizeBytes = v;
            return this;
        }

        public Builder region(String name, RegionKind kind, long size) {
            regions.add(RegionSpec.of(name, kind, size));
            return this;
        }

        public Builder region(RegionSpec r) {
            regions.add(r);
            return this;
        }

        public Builder workload(Workload v) {
            workload = v;
            return this;
        }

        public Builder writeRatePagesPerS(long v) {
            writeRatePagesPerS = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public Builder vcpuCount(int v) {
            vcpuCount = v;
            return this;
        }

        public Builder hotSet(double fraction, double writeFraction) {
            hotSetFraction = fraction;
            hotSetWriteFraction = writeFraction;
            return this;
        }

        public Builder zipfExponent(double v) {
            zipfExponent = v;
            return this;
        }

        public Builder readFraction(double v) {
            readFraction = v;
            return this;
        }

        public GuestSpec build() {
            return new GuestSpec(regions.isEmpty() ? sizeBytes : 0, regions, workload, writeRatePagesPerS, seed,
                    vcpuCount, hotSetFraction, hotSetWriteFraction, zipfExponent, readFraction);
        }
    }
}
