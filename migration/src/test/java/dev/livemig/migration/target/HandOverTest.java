package dev.livemig.migration.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.GuestSpec.Workload;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.tracker.DirtyTracker;
import dev.livemig.migration.transport.InMemoryPageChannel;
import dev.livemig.migration.transport.PageTransfer.RegionChecksums;
import dev.livemig.migration.transport.PageTransfer.VerifyRequest;
import dev.livemig.migration.transport.PageTransfer.VerifyResponse;
import dev.livemig.mm.Kernel;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A received guest leaves its incoming migration (to be migrated onward): the userfaultfd of
 * the migration goes, a dirty tracker can register the memory, the guest runs on when the
 * migration is closed, and the source can still verify afterwards.
 */
class HandOverTest {
    private static final long MIB = 1 << 20;
    private final Kernel sourceKernel = new Kernel(new Kernel.Config());
    private final Kernel targetKernel = new Kernel(new Kernel.Config());
    private Guest source;
    private IncomingMigration target;
    private InMemoryPageChannel channel;

    @AfterEach
    void close() {
        if (channel != null) {
            channel.close();
        }
        if (target != null) {
            target.close();
            if (target.guest() != null) {
                target.guest().release();
            }
        }
        if (source != null) {
            source.close();
        }
        sourceKernel.close();
        targetKernel.close();
    }

    /** Migrates a running guest without verifying; returns the migration, COMPLETED. */
    private OutgoingMigration migrate(MigrationMode mode) throws InterruptedException {
        source = Guest.create(sourceKernel, GuestSpec.builder()
                .region(new RegionSpec("anon", RegionKind.ANON, 4 * MIB, 0.75, 0.25))
                .region(new RegionSpec("shmem", RegionKind.SHMEM, 2 * MIB, 1.0, 0.0))
                .vcpuCount(2).seed(9).workload(Workload.UNIFORM).writeRatePagesPerS(20_000).build());
        source.start();
        target = new IncomingMigration(targetKernel);
        channel = new InMemoryPageChannel(target);
        OutgoingMigration m = new OutgoingMigration("h", "g", "in-memory", source, channel,
                MigrationParameters.of(mode));
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(60_000), m::error);
        assertEquals(IncomingMigration.State.COMPLETED, target.awaitFinal(10_000));
        return m;
    }

    private static long writesOf(Guest g, long atLeastMore) throws InterruptedException {
        long from = g.accessesDone();
        long deadline = System.currentTimeMillis() + 10_000;
        while (g.accessesDone() < from + atLeastMore) {
            assertTrue(System.currentTimeMillis() < deadline, "the guest makes progress");
            Thread.sleep(5);
        }
        return g.accessesDone();
    }

    @Test
    void beforeTheSourceVerified_handOver_keepsTheViewAtResume_andATrackerCanRegister() throws Exception {
        migrate(MigrationMode.PRECOPY);
        List<RegionChecksums> atPause = PageChecksums.of(source.mm(), source.layout()); // the source stays paused
        Guest g = target.handOver();
        assertSame(g, target.handOver(), "a second call hands over the same guest");
        writesOf(g, 2000); // written now without the migration's userfaultfd
        VerifyResponse v = target.verify(new VerifyRequest("h", atPause));
        assertEquals(0, v.mismatchPages(), "the pages as they were at resume: " + v);
        assertEquals(source.layout().pages(), v.verifiedPages());

        DirtyTracker t = DirtyTracker.create(DirtyTrackerKind.WP_ASYNC, g);
        t.start(); // EBUSY if the migration's userfaultfd still held the ranges
        writesOf(g, 2000);
        PageBitmap dirty = new PageBitmap(g.layout().pages());
        t.collect(dirty);
        assertTrue(dirty.cardinality() > 0, "the new tracker sees the guest's writes");
        t.close();

        target.close();
        writesOf(g, 100);
        assertTrue(g.isRunning(), "closing the migration leaves a handed-over guest running");
        assertNull(g.vcpuError());
    }

    @Test
    void afterPostcopy_handOver_dropsTheFaultHandler_andTheGuestRunsOnPlainMemory() throws Exception {
        migrate(MigrationMode.POSTCOPY);
        Guest g = target.handOver();
        int handlers = (int) Thread.getAllStackTraces().keySet().stream()
                .filter(th -> th.isAlive() && th.getName().equals("postcopy-fault-" + g.mm().pid())).count();
        assertEquals(0, handlers, "the migration's userfaultfd monitor stopped");
        writesOf(g, 2000);
        assertNull(g.vcpuError());
        assertEquals(0, source.checkStamps(g.mm()), "every stamped page arrived and stayed");
    }

    @Test
    void handOver_isRefusedBeforeCompleted() {
        IncomingMigration fresh = new IncomingMigration(targetKernel);
        assertTrue(assertThrows(IllegalStateException.class, fresh::handOver).getMessage()
                .startsWith("FAILED_PRECONDITION"));
    }
}
