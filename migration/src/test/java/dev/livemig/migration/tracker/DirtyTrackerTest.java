package dev.livemig.migration.tracker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.guest.WriteLog;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.proc.Pagemap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class DirtyTrackerTest {
    private static final long MIB = 1 << 20;

    private static GuestSpec spec() {
        return GuestSpec.builder()
                .region(new RegionSpec("anon", RegionKind.ANON, 4 * MIB, 0.5, 0.2))
                .region("thp", RegionKind.THP, 4 * MIB)
                .region("shm", RegionKind.SHMEM, 2 * MIB)
                .region("huge", RegionKind.HUGETLB, 4 * MIB)
                .workload(GuestSpec.Workload.UNIFORM).writeRatePagesPerS(20_000).vcpuCount(2).seed(7)
                .build();
    }

    @ParameterizedTest
    @EnumSource(DirtyTrackerKind.class)
    void collect_reportsEveryWrittenPageOfEveryRegionKind(DirtyTrackerKind kind) throws Exception {
        try (Kernel k = new Kernel(new Kernel.Config().softDirty(true)); Guest g = Guest.create(k, spec())) {
            DirtyTracker t = DirtyTracker.create(kind, g);
            WriteLog log = g.writeLog();
            log.mark(t::start);
            g.start();
            WriteLog.Score total = WriteLog.Score.NONE;
            for (int round = 0; round < 5; round++) {
                Thread.sleep(30);
                PageBitmap reported = new PageBitmap(g.layout().pages());
                PageBitmap truth = log.mark(() -> t.collect(reported));
                total = total.plus(WriteLog.Score.of(reported, truth));
            }
            g.pause();
            t.close();
            assertNull(g.vcpuError());
            assertTrue(total.truePositivePages() > 0, "the workload wrote and the tracker saw it: " + total);
            assertEquals(0, total.falseNegativePages(), kind + " missed written pages: " + total);
        }
    }

    @ParameterizedTest
    @EnumSource(DirtyTrackerKind.class)
    void close_leavesNoWriteProtectionAndTheGuestRunsOn(DirtyTrackerKind kind) throws Exception {
        try (Kernel k = new Kernel(new Kernel.Config().softDirty(true)); Guest g = Guest.create(k, spec())) {
            DirtyTracker t = DirtyTracker.create(kind, g);
            t.start();
            g.start();
            Thread.sleep(20);
            t.close();
            long before = g.writeLog().writes();
            while (g.writeLog().writes() < before + 50) {
                Thread.onSpinWait();
            }
            g.pause();
            for (var r : g.layout().regions()) {
                long[] pme = Pagemap.read(g.mm(), r.startAddress(), (int) (r.sizeBytes() >>> 12));
                for (long e : pme) {
                    assertEquals(0, e & Pagemap.PM_UFFD_WP, "uffd-wp left behind in " + r.name());
                }
            }
            assertEquals(0, g.checkStamps(g.mm()));
            assertEquals(0, g.checkRecentWrites(g.mm()));
        }
    }
}
