package dev.livemig.migration.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.MigrationStats;
import dev.livemig.migration.MigrationControl.ProgressListener;
import dev.livemig.migration.MigrationControl.TransferProgress;
import dev.livemig.migration.MigrationControl.RoundDecision;
import dev.livemig.migration.MigrationControl.RoundRecord;
import dev.livemig.migration.MigrationControl.SwitchoverCost;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.GuestSpec.Workload;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.stats.DowntimeProbe;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.MmStruct;
import dev.livemig.mm.proc.Pagemap;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The end-to-end migration suite, independent of the transport: a subclass says how a
 * source reaches an {@link IncomingMigration} ({@link #connect}); in-memory queues now, a
 * gRPC client and server later. Every test migrates a small running guest between two
 * simulated kernels and checks the outcome against ground truth: every target page
 * equals the source page at pause (checksums), no tracker missed a write, and a cancel
 * leaves the source guest running with its memory intact.
 */
public abstract class AbstractMigrationE2ETest {
    protected static final long MIB = 1 << 20;
    private static final long TIMEOUT_MS = 60_000;
    private static final AtomicInteger IDS = new AtomicInteger();

    protected Kernel sourceKernel;
    protected Kernel targetKernel;
    private Guest source;
    private IncomingMigration target;
    private PageChannel channel;
    private Workload workload;

    /** A channel from a source to {@code target}, over the transport under test. */
    protected abstract PageChannel connect(IncomingMigration target);

    @BeforeEach
    protected void kernels() {
        sourceKernel = new Kernel(new Kernel.Config().softDirty(true));
        targetKernel = new Kernel(new Kernel.Config().softDirty(true));
    }

    @AfterEach
    protected void tearDown() {
        if (source != null) {
            source.close();
        }
        if (target != null) {
            target.close();
        }
        if (channel != null) {
            channel.close();
        }
        sourceKernel.close();
        targetKernel.close();
    }

    // ---- fixtures ------------------------------------------------------------------------

    /** One region of every kind, partly populated, with zero pages. */
    protected static GuestSpec.Builder mixedGuest() {
        return GuestSpec.builder()
                .region(new RegionSpec("anon", RegionKind.ANON, 8 * MIB, 0.75, 0.25))
                .region(new RegionSpec("thp", RegionKind.THP, 8 * MIB, 0.5, 0.0))
                .region(new RegionSpec("shmem", RegionKind.SHMEM, 4 * MIB, 0.75, 0.25))
                .region(new RegionSpec("hugetlb", RegionKind.HUGETLB, 4 * MIB, 1.0, 0.0))
                .vcpuCount(2).seed(42).writeRatePagesPerS(4000);
    }

    protected OutgoingMigration newMigration(GuestSpec spec, MigrationParameters params, boolean holdHandshake) {
        workload = spec.workload();
        source = Guest.create(sourceKernel, spec);
        source.start();
        target = new IncomingMigration(targetKernel);
        channel = new HoldingPageChannel(connect(target), holdHandshake);
        return new OutgoingMigration("m" + IDS.incrementAndGet(), "g1", "in-process", source, channel, params);
    }

    protected OutgoingMigration migrate(GuestSpec spec, MigrationParameters params) throws InterruptedException {
        OutgoingMigration m = newMigration(spec, params, false);
        m.start();
        MigrationState s = m.awaitFinal(TIMEOUT_MS);
        assertEquals(MigrationState.COMPLETED, s, () -> "migration ended " + s + ": " + m.error()
                + " rounds " + m.rounds());
        return m;
    }

    /** The guest on the target is the source's guest at pause, and it runs. */
    private void assertMigratedFaithfully(OutgoingMigration m) throws InterruptedException {
        MigrationStats st = m.stats();
        assertEquals(0, st.verifyMismatchPages(), () -> "pages differ: " + st);
        assertEquals(source.layout().pages(), st.verifiedPages(), "every page verified");
        assertEquals(0, st.trackerFalseNegativePages(), "a tracker missed a write");
        assertEquals(0, source.checkStamps(target.guest().mm()), "stamped pages lost on the way");
        assertTrue(st.downtimeTargetMs() > 0, "downtime measured pause -> first instruction");
        assertTrue(st.bytesSent() > 0);
        assertTrue(target.guest().firstInstructionNanos(1000) > 0, "the guest ran on the target");
        if (workload != Workload.IDLE) {
            long before = target.guest().accessesDone();
            waitUntil(() -> target.guest().accessesDone() > before, "target guest makes progress");
        }
        assertNull(target.guest().vcpuError());
        assertTrue(!source.isRunning(), "the source stays paused after a completed migration");
    }

    private static void waitUntil(java.util.function.BooleanSupplier cond, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 10_000;
        while (!cond.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out: " + what);
            }
            Thread.sleep(5);
        }
    }

    // ---- modes ---------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(MigrationMode.class)
    void everyMode_migratesAGuestWithEveryRegionKind(MigrationMode mode) throws Exception {
        MigrationParameters p = MigrationParameters.of(mode).withVerifyPages(true);
        if (mode == MigrationMode.HYBRID) {
            // a limit no round can meet: two pre-copy rounds, then post-copy
            p = p.withPostcopyAfterRounds(2).withDowntimeLimitMs(1).withBandwidthLimitBytesPerS(64 * MIB);
        }
        OutgoingMigration m = migrate(mixedGuest().build(), p);
        assertMigratedFaithfully(m);
        MigrationStats st = m.stats();
        if (mode == MigrationMode.PRECOPY) {
            assertTrue(st.rounds() >= 2, "at least round 0 and the stop-and-copy pass");
            assertEquals(0, target.counters().pageRequests(), "pre-copy never fetches on demand");
        } else {
            assertTrue(m.info().stateChanges().stream().anyMatch(c -> c.toState() == MigrationState.POSTCOPY_ACTIVE));
        }
    }

    @Test
    void postcopy_missingPagesAreFetchedOnDemandWhileTheBackgroundPushRuns() throws Exception {
        GuestSpec spec = mixedGuest().writeRatePagesPerS(20_000).build();
        MigrationParameters p = MigrationParameters.of(MigrationMode.POSTCOPY).withVerifyPages(true)
                .withBandwidthLimitBytesPerS(32 * MIB);
        OutgoingMigration m = migrate(spec, p);
        assertMigratedFaithfully(m);
        MigrationStats st = m.stats();
        assertTrue(st.postcopyFaults() > 0, "the target faulted on missing pages: " + st);
        assertEquals(st.postcopyFaults(), st.postcopyFaultLatency().count());
        assertTrue(target.counters().faultLatency().count() > 0);
        // the whole round trip as the target measured it, not the source's leg of it
        assertEquals(target.counters().faultLatency(), st.postcopyFaultLatency(),
                "the source reports the target's fault-to-install latency");
        assertTrue(st.postcopyFaultLatency().maxUs() >= st.postcopyFaultLatency().p50Us());
        assertTrue(st.postcopyTargetDirtiedPages() > 0, "target writes after switchover are tracked");
    }

    // ---- watching ----------------------------------------------------------------------

    @Test
    void watch_progressSamplesShowRoundZeroUnderWayAndTheFinalState() throws Exception {
        OutgoingMigration m = newMigration(mixedGuest().build(), MigrationParameters.of(MigrationMode.PRECOPY)
                .withBandwidthLimitBytesPerS(8 * MIB).withVerifyPages(true), false); // round 0: seconds
        List<Object> events = new java.util.concurrent.CopyOnWriteArrayList<>();
        m.addListener(new ProgressListener() {
            @Override
            public void onRound(RoundRecord round) {
                events.add(round);
            }

            @Override
            public void onProgress(TransferProgress progress) {
                events.add(progress);
            }
        }, 5);
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertMigratedFaithfully(m);
        int firstRound = -1;
        for (int i = 0; i < events.size() && firstRound < 0; i++) {
            if (events.get(i) instanceof RoundRecord) {
                firstRound = i;
            }
        }
        assertTrue(firstRound > 0, "round 0 ended");
        boolean midRound = events.subList(0, firstRound).stream().anyMatch(e -> e instanceof TransferProgress t
                && t.round() == 0 && t.state() == MigrationState.ACTIVE && t.roundSentPages() > 0
                && t.roundRemainingPages() > 0 && t.bandwidthBytesPerS() > 0);
        assertTrue(midRound, "a sample within round 0, pages sent and pages left: " + events.subList(0, firstRound));
        long lastTotal = 0;
        long lastBytes = 0;
        for (Object e : events) {
            if (e instanceof TransferProgress t) {
                assertTrue(t.totalSentPages() >= lastTotal && t.totalBytesSent() >= lastBytes, "totals only grow");
                lastTotal = t.totalSentPages();
                lastBytes = t.totalBytesSent();
            }
        }
        waitUntil(() -> events.get(events.size() - 1) instanceof TransferProgress t
                && t.state() == MigrationState.COMPLETED, "a last sample in the final state");
        TransferProgress last = (TransferProgress) events.get(events.size() - 1);
        assertEquals(0, last.roundRemainingPages());
        assertEquals(m.stats().bytesSent(), last.totalBytesSent());
    }

    @Test
    void probe_seesTheGuestAnswerOnTheSourceThenOnTheTarget() throws Exception {
        OutgoingMigration m = newMigration(mixedGuest().build(), MigrationParameters.of(MigrationMode.PRECOPY)
                .withVerifyPages(true).withBandwidthLimitBytesPerS(64 * MIB), false);
        IncomingMigration t = target;
        try (DowntimeProbe probe = DowntimeProbe.inProcess(source, t::guest).start()) {
            waitUntil(() -> probe.answers(0) > 0, "the source guest answers");
            m.setDowntimeProbe(probe);
            m.start();
            assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
            waitUntil(() -> probe.answers(1) > 0, "the target guest answers");
            long sourceAnswers = probe.answers(0);
            waitUntil(() -> probe.answers(1) > 1, "the target guest keeps answering");
            assertEquals(sourceAnswers, probe.answers(0), "the paused source never answers again");
            MigrationStats st = m.stats();
            assertTrue(st.downtimeProbeMs() > 0, () -> "the probe saw the switchover: " + st);
        }
        assertMigratedFaithfully(m);
    }

    // ---- pre-copy rounds -------------------------------------------------------------------

    @Test
    void round0_sendsEveryPopulatedPageWithZeroPagesAsFlags() throws Exception {
        GuestSpec spec = mixedGuest().workload(Workload.IDLE).build();
        OutgoingMigration m = newMigration(spec, MigrationParameters.of(MigrationMode.PRECOPY)
                .withManualRounds(true).withVerifyPages(true), false);
        boolean[] present = PageChecksums.presentPages(source.mm(), source.layout());
        int populated = 0;
        int zero = 0;
        for (int i = 0; i < present.length; i++) {
            if (present[i]) {
                populated++;
                long size = source.layout().pageSize(i);
                if (isZeroPage(source.mm(), source.layout().pageAddress(i), (int) size)) {
                    zero++;
                }
            }
        }
        m.start();
        assertEquals(MigrationState.ACTIVE, m.state());
        RoundRecord r0 = m.runRound();
        assertEquals(0, r0.round());
        assertEquals(populated, r0.dirtyPages());
        assertEquals(populated, r0.sentPages());
        assertEquals(zero, r0.zeroPages());
        assertTrue(zero > 0 && zero < populated);
        assertTrue(r0.bytesSent() < source.layout().bytesOf(allOf(present)), "zero pages carry no data");
        assertEquals(0, r0.remainingDirtyPages(), "an idle guest writes nothing");
        assertEquals(RoundDecision.SWITCHOVER, r0.decision());
        assertTrue(r0.reason().contains("<= limit"), r0.reason());
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS));
        assertMigratedFaithfullyIdle(m);
    }

    protected void assertMigratedFaithfullyIdle(OutgoingMigration m) {
        MigrationStats st = m.stats();
        assertEquals(0, st.verifyMismatchPages());
        assertEquals(source.layout().pages(), st.verifiedPages());
        assertEquals(0, source.checkStamps(target.guest().mm()));
    }

    private static dev.livemig.migration.guest.PageBitmap allOf(boolean[] present) {
        dev.livemig.migration.guest.PageBitmap b = new dev.livemig.migration.guest.PageBitmap(present.length);
        for (int i = 0; i < present.length; i++) {
            if (present[i]) {
                b.set(i);
            }
        }
        return b;
    }

    private static boolean isZeroPage(MmStruct mm, long addr, int size) {
        return PageChecksums.read(mm, addr, size, new byte[size]);
    }

    @ParameterizedTest
    @EnumSource(Workload.class)
    void everyWorkload_migratesWithoutMissedWrites(Workload w) throws Exception {
        GuestSpec spec = mixedGuest().workload(w).writeRatePagesPerS(8000).hotSet(0.05, 0.9).build();
        OutgoingMigration m = migrate(spec, MigrationParameters.of(MigrationMode.PRECOPY).withVerifyPages(true)
                .withBandwidthLimitBytesPerS(256 * MIB));
        assertMigratedFaithfully(m);
        if (w != Workload.IDLE) {
            assertTrue(m.stats().trackerTruePositivePages() > 0, "the workload wrote during pre-copy");
        }
    }

    @ParameterizedTest
    @EnumSource(DirtyTrackerKind.class)
    void everyTracker_reportsEveryWrite(DirtyTrackerKind kind) throws Exception {
        OutgoingMigration m = migrate(mixedGuest().writeRatePagesPerS(8000).build(),
                MigrationParameters.of(MigrationMode.PRECOPY).withTracker(kind).withVerifyPages(true)
                        .withBandwidthLimitBytesPerS(128 * MIB));
        assertMigratedFaithfully(m);
        for (RoundRecord r : m.rounds()) {
            assertEquals(0, r.trackerFalseNegativePages(), () -> "round " + r);
        }
    }

    @Test
    void writeHeavyHybrid_cannotConvergeAndSwitchesToPostcopy() throws Exception {
        GuestSpec spec = mixedGuest().workload(Workload.UNIFORM).writeRatePagesPerS(40_000).build();
        MigrationParameters p = MigrationParameters.of(MigrationMode.HYBRID).withVerifyPages(true)
                .withBandwidthLimitBytesPerS(16 * MIB).withDowntimeLimitMs(20).withMaxRounds(6);
        OutgoingMigration m = migrate(spec, p);
        assertMigratedFaithfully(m);
        List<RoundRecord> rounds = m.rounds();
        RoundRecord last = rounds.get(rounds.size() - 1);
        assertEquals(RoundDecision.POSTCOPY, last.decision(), () -> "rounds " + rounds);
        assertTrue(rounds.stream().anyMatch(r -> r.decision() == RoundDecision.POSTCOPY
                && r.predictedDowntimeMs() > 20), "switched because the prediction exceeded the limit");
        assertTrue(target.counters().discardedPages() > 0 || target.counters().pageRequests() > 0);
    }

    /** Regression: the post-copy switchover's scan used to add a round of its own, with 0 pages sent. */
    @Test
    void hybrid_roundListEndsWithTheRoundThatDecidedPostcopy() throws Exception {
        OutgoingMigration m = newMigration(mixedGuest().build(), MigrationParameters.of(MigrationMode.HYBRID)
                .withManualRounds(true).withDowntimeLimitMs(1).withPostcopyAfterRounds(2).withVerifyPages(true)
                .withBandwidthLimitBytesPerS(64 * MIB), false);
        m.start();
        RoundRecord r0 = m.runRound();
        assertEquals(RoundDecision.CONTINUE, r0.decision(), r0::reason);
        RoundRecord r1 = m.runRound();
        assertEquals(RoundDecision.POSTCOPY, r1.decision(), r1::reason);
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertMigratedFaithfully(m);
        assertEquals(List.of(r0, r1), m.rounds(), "no round after the one that decided POSTCOPY");
        assertEquals(2, m.stats().rounds());
        assertTrue(m.info().stateChanges().stream().anyMatch(c -> c.toState() == MigrationState.POSTCOPY_ACTIVE
                && c.reason().contains("pages left to the page server")), () -> "" + m.info().stateChanges());
    }

    @Test
    void precopy_predictionIsTheTransferPlusTheMeasuredSwitchoverCost() throws Exception {
        GuestSpec spec = mixedGuest().workload(Workload.UNIFORM).writeRatePagesPerS(30_000).build();
        OutgoingMigration m = migrate(spec, MigrationParameters.of(MigrationMode.PRECOPY).withVerifyPages(true)
                .withBandwidthLimitBytesPerS(32 * MIB).withDowntimeLimitMs(50).withMaxRounds(12));
        assertMigratedFaithfully(m);
        List<RoundRecord> rounds = m.rounds();
        RoundRecord last = rounds.get(rounds.size() - 1);
        for (RoundRecord r : rounds.subList(0, rounds.size() - 1)) {
            SwitchoverCost c = r.switchoverCost();
            assertEquals(r.predictedTransferMs() + c.totalMs(), r.predictedDowntimeMs(), 1e-6, () -> "" + r);
            assertEquals(r.scanNs() / 1e6, c.finalScanMs(), 1e-6, "this round's scan stands for the final one");
            assertEquals(0, c.pauseMs(), "no pause before the switchover");
            assertTrue(c.targetResumeMs() > 0, () -> "the target's resume was rehearsed: " + r);
        }
        SwitchoverCost done = last.switchoverCost();
        assertTrue(done.targetResumeMs() > 0, () -> "the switchover's resume was measured: " + last);
        assertTrue(done.totalMs() >= done.targetResumeMs() + done.finalScanMs(), () -> "" + done);
        assertEquals(last.scanNs() / 1e6, done.finalScanMs(), 1e-6);
        assertEquals(rounds.get(rounds.size() - 2).predictedDowntimeMs(), m.stats().predictedDowntimeMs());
    }

    @Test
    void autoConverge_throttlesTheGuestUntilThePredictionFits() throws Exception {
        GuestSpec spec = mixedGuest().workload(Workload.UNIFORM).writeRatePagesPerS(30_000).build();
        MigrationParameters p = MigrationParameters.of(MigrationMode.PRECOPY).withVerifyPages(true)
                .withBandwidthLimitBytesPerS(32 * MIB).withDowntimeLimitMs(50).withMaxRounds(12);
        OutgoingMigration m = migrate(spec, p);
        assertMigratedFaithfully(m);
        List<RoundRecord> rounds = m.rounds();
        assertTrue(rounds.stream().anyMatch(r -> r.decision() == RoundDecision.THROTTLE), () -> "" + rounds);
        assertTrue(rounds.get(rounds.size() - 1).throttlePercent() > 0);
    }

    @Test
    void setParameters_raisingTheDowntimeLimitLetsTheNextRoundSwitchOver() throws Exception {
        OutgoingMigration m = newMigration(mixedGuest().build(), MigrationParameters.of(MigrationMode.PRECOPY)
                .withManualRounds(true).withDowntimeLimitMs(1).withVerifyPages(true)
                .withBandwidthLimitBytesPerS(64 * MIB).withSwitchoverPolicy(
                        dev.livemig.migration.MigrationControl.SwitchoverPolicy.WAIT), false);
        m.start();
        RoundRecord r0 = m.runRound();
        assertEquals(RoundDecision.CONTINUE, r0.decision(), r0::reason);
        assertThrows(IllegalArgumentException.class,
                () -> m.setParameters(m.parameters().withTracker(DirtyTrackerKind.SOFT_DIRTY)));
        MigrationParameters now = m.setParameters(m.parameters().withDowntimeLimitMs(60_000));
        assertEquals(60_000, now.downtimeLimitMs());
        RoundRecord r1 = m.runRound();
        assertEquals(RoundDecision.SWITCHOVER, r1.decision(), r1::reason);
        assertTrue(r1.reason().contains("limit 60000 ms"), r1.reason());
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS));
        assertMigratedFaithfully(m);
    }

    // ---- cancel --------------------------------------------------------------------------

    /** After a cancel the source guest runs on, untracked, with every page as it was. */
    private void assertSourceIntact(OutgoingMigration m) throws InterruptedException {
        assertEquals(MigrationState.CANCELLED, m.state());
        assertTrue(source.isRunning(), "the source guest runs after a cancel");
        long writes = source.writeLog().writes();
        waitUntil(() -> source.writeLog().writes() > writes + 20, "source guest keeps writing");
        source.pause();
        assertNull(source.vcpuError());
        assertEquals(0, source.checkStamps(source.mm()), "stamps intact");
        assertEquals(0, source.checkRecentWrites(source.mm()), "latest writes intact");
        for (var r : source.layout().regions()) {
            for (long e : Pagemap.read(source.mm(), r.startAddress(), (int) (r.sizeBytes() >>> 12))) {
                assertEquals(0, e & Pagemap.PM_UFFD_WP, "uffd-wp left in " + r.name());
            }
        }
        assertEquals(0, source.throttlePercent());
        assertEquals(IncomingMigration.State.FAILED, target.awaitFinal(10_000), "the target dropped its copy");
    }

    @Test
    void cancelInSetup_leavesTheSourceRunning() throws Exception {
        OutgoingMigration m = newMigration(mixedGuest().build(), MigrationParameters.of(MigrationMode.PRECOPY), true);
        m.start();
        HoldingPageChannel ch = (HoldingPageChannel) channel;
        ch.awaitHandshake();
        assertEquals(MigrationState.SETUP, m.state());
        Thread canceller = new Thread(() -> m.cancel("test"));
        canceller.start();
        waitUntil(() -> canceller.getState() == Thread.State.WAITING || !canceller.isAlive(), "cancel waits");
        ch.release();
        canceller.join(10_000);
        assertSourceIntact(m);
    }

    @Test
    void cancelBetweenRounds_leavesTheSourceRunning() throws Exception {
        OutgoingMigration m = newMigration(mixedGuest().build(), MigrationParameters.of(MigrationMode.PRECOPY)
                .withManualRounds(true).withDowntimeLimitMs(1).withSwitchoverPolicy(
                        dev.livemig.migration.MigrationControl.SwitchoverPolicy.WAIT), false);
        m.start();
        RoundRecord r0 = m.runRound();
        assertEquals(RoundDecision.CONTINUE, r0.decision(), r0::reason);
        assertEquals(MigrationState.ACTIVE, m.state());
        assertEquals(MigrationState.CANCELLED, m.cancel("operator"));
        assertSourceIntact(m);
        assertThrows(IllegalStateException.class, m::runRound);
        assertTargetDropped();
    }

    /**
     * A cancelled migration ends on the target too, as a QEMU destination exits when the
     * source closes the migration stream: the half-received guest's vCPU threads and frames
     * go (regression: between manual rounds the target never heard of the cancel and kept
     * every cancelled guest).
     */
    private void assertTargetDropped() throws InterruptedException {
        waitUntil(() -> target.state() == IncomingMigration.State.FAILED, "the target's incoming migration failed");
        waitUntil(() -> targetKernel.physMem().allocatedPages() == 0, "the target freed the cancelled guest's frames");
    }

    @Test
    void cancelDuringARound_leavesTheSourceRunning() throws Exception {
        OutgoingMigration m = newMigration(mixedGuest().build(), MigrationParameters.of(MigrationMode.PRECOPY)
                .withBandwidthLimitBytesPerS(4 * MIB), false);
        m.start();
        waitUntil(() -> m.state() == MigrationState.ACTIVE, "ACTIVE");
        waitUntil(() -> m.stats().bytesSent() > 0, "round 0 under way"); // ~17 MiB at 4 MiB/s: seconds
        assertEquals(MigrationState.CANCELLED, m.cancel("operator"));
        assertTrue(m.rounds().isEmpty(), "round 0 did not finish");
        assertSourceIntact(m);
    }

    @Test
    void cancelInPostcopy_isRefusedAndTheMigrationCompletes() throws Exception {
        OutgoingMigration m = newMigration(mixedGuest().build(), MigrationParameters.of(MigrationMode.POSTCOPY)
                .withBandwidthLimitBytesPerS(8 * MIB).withVerifyPages(true), false);
        m.start();
        waitUntil(() -> m.state() == MigrationState.POSTCOPY_ACTIVE, "POSTCOPY_ACTIVE");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.cancel("operator"));
        assertTrue(e.getMessage().startsWith("FAILED_PRECONDITION"), e.getMessage());
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS));
        assertMigratedFaithfully(m);
    }

    @Test
    void cancelAfterCompletion_returnsCompleted() throws Exception {
        OutgoingMigration m = migrate(mixedGuest().workload(Workload.IDLE).build(),
                MigrationParameters.of(MigrationMode.PRECOPY));
        assertEquals(MigrationState.COMPLETED, m.cancel("too late"));
        assertNotNull(target.guest());
    }
}
