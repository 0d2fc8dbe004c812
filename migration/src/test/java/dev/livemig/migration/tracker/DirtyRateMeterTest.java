package dev.livemig.migration.tracker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.DirtyRateResult;
import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.Workload;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.proc.Pagemap;
import org.junit.jupiter.api.Test;

class DirtyRateMeterTest {
    private static final long MIB = 1 << 20;

    @Test
    void measure_countsDistinctPagesPerPeriodAndRegionAndLeavesNoTracking() throws Exception {
        GuestSpec spec = GuestSpec.builder().region("anon", RegionKind.ANON, 4 * MIB)
                .region("shm", RegionKind.SHMEM, 4 * MIB).workload(Workload.UNIFORM)
                .writeRatePagesPerS(5000).seed(3).build();
        try (Kernel k = new Kernel(); Guest g = Guest.create(k, spec)) {
            g.start();
            DirtyRateResult r = DirtyRateMeter.measure("g", g, DirtyTrackerKind.WP_ASYNC, 200, 50);
            g.pause();
            // How many periods fit depends on how fast each collect runs (a loaded machine may
            // fit one), so check their shape instead of their number: back to back, each at
            // least one period long but the last, together covering the measured duration.
            assertTrue(r.durationMs() >= 200, "measured for " + r.durationMs() + " ms");
            assertTrue(!r.periods().isEmpty(), "periods: " + r.periods());
            long at = 0;
            for (int i = 0; i < r.periods().size(); i++) {
                var p = r.periods().get(i);
                assertTrue(Math.abs(p.startMs() - at) <= 1, "periods back to back: " + r.periods());
                assertTrue(i == r.periods().size() - 1 || p.durationMs() >= 49, "short period: " + r.periods());
                at = p.startMs() + p.durationMs();
            }
            assertTrue(Math.abs(at - r.durationMs()) <= r.periods().size(), "periods cover the run: " + r.periods());
            assertEquals(2, r.regions().size());
            assertTrue(r.dirtyPages() > 0);
            assertEquals(r.dirtyPages(), r.regions().get(0).dirtyPages() + r.regions().get(1).dirtyPages());
            assertTrue(r.regions().get(0).dirtyPages() > 0 && r.regions().get(1).dirtyPages() > 0,
                    "uniform writes reach both regions: " + r.regions());
            long perPeriodSum = r.periods().stream().mapToLong(p -> p.dirtyPages()).sum();
            assertTrue(perPeriodSum >= r.dirtyPages(), "distinct over the whole run <= sum of periods");
            for (long e : Pagemap.read(g.mm(), g.layout().regions().get(0).startAddress(), 1024)) {
                assertEquals(0, e & Pagemap.PM_UFFD_WP);
            }
        }
    }
}
