package dev.livemig.migration.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.MigrationStats;
import dev.livemig.migration.MigrationControl.RoundRecord;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.GuestSpec.Workload;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.stats.DowntimeProbe;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.InMemoryPageChannel;
import dev.livemig.mm.Kernel;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A 4 GiB guest migrated in one JVM with the WP_ASYNC tracker (failsafe runs it with
 * -Xmx1g: guest bytes are off-heap on both kernels): a quarter of it populated, some of
 * that zero pages, in anonymous, THP and shmem regions, while two vCPUs keep writing a hot
 * set. Every one of its 2^20 pages is verified on the target.
 */
class LargeGuestMigrationIT {
    private static final long MIB = 1 << 20;
    private static final long GIB = 1L << 30;

    @Test
    void fourGiBGuestWithAHotSet_migratesAndEveryPageVerifies() throws Exception {
        GuestSpec spec = GuestSpec.builder()
                .region(new RegionSpec("anon", RegionKind.ANON, 3 * GIB, 0.25, 0.1))
                .region(new RegionSpec("thp", RegionKind.THP, 512 * MIB, 0.25, 0.0))
                .region(new RegionSpec("shmem", RegionKind.SHMEM, 512 * MIB, 0.25, 0.1))
                .workload(Workload.HOTSET).hotSet(0.002, 0.95).writeRatePagesPerS(20_000)
                .vcpuCount(2).seed(4).build();
        try (Kernel sk = new Kernel(new Kernel.Config()); Kernel tk = new Kernel(new Kernel.Config());
             Guest source = Guest.create(sk, spec); IncomingMigration target = new IncomingMigration(tk);
             InMemoryPageChannel channel = new InMemoryPageChannel(target);
             DowntimeProbe probe = DowntimeProbe.inProcess(source, target::guest)) {
            assertEquals(4 * GIB, source.layout().sizeBytes());
            source.start();
            MigrationParameters p = MigrationParameters.of(MigrationMode.PRECOPY)
                    .withTracker(DirtyTrackerKind.WP_ASYNC).withVerifyPages(true);
            OutgoingMigration m = new OutgoingMigration("big", "g", "in-process", source, channel, p);
            m.setDowntimeProbe(probe.start());
            long t0 = System.nanoTime();
            m.start();
            MigrationState s = m.awaitFinal(600_000);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(MigrationState.COMPLETED, s, () -> m.error() + " " + m.rounds());
            long deadline = System.currentTimeMillis() + 10_000;
            while (probe.answers(1) == 0 && System.currentTimeMillis() < deadline) {
                Thread.sleep(1);
            }
            assertTrue(probe.answers(1) > 0, "the probe reaches the guest on the target");
            MigrationStats st = m.stats();
            System.out.printf("4 GiB guest: %d ms, %d rounds, %d pages sent (%d zero), %d bytes, "
                    + "downtime %.1f ms (probe %.1f ms, predicted %.1f), heap used %d MiB%n", ms, st.rounds(),
                    st.transferredPages(), st.zeroPages(), st.bytesSent(), st.downtimeTargetMs(), st.downtimeProbeMs(),
                    st.predictedDowntimeMs(), (Runtime.getRuntime().totalMemory()
                            - Runtime.getRuntime().freeMemory()) >> 20);
            assertEquals(1 << 20, source.layout().pages());
            assertEquals(source.layout().pages(), st.verifiedPages(), "every page verified");
            assertEquals(0, st.verifyMismatchPages());
            assertEquals(0, st.trackerFalseNegativePages(), "the tracker missed a write");
            assertTrue(st.trackerTruePositivePages() > 0, "the hot set was written during the migration");
            assertEquals(0, source.checkStamps(target.guest().mm()), "stamped pages lost on the way");
            List<RoundRecord> rounds = m.rounds();
            RoundRecord r0 = rounds.get(0);
            assertTrue(r0.sentPages() > source.layout().pages() / 5, "round 0 sent the populated quarter: " + r0);
            for (RoundRecord r : rounds.subList(1, rounds.size())) {
                assertTrue(r.sentPages() < r0.sentPages() / 10, () -> "later rounds send the hot set only: " + r);
            }
            assertNull(target.guest().vcpuError());
        }
    }
}
