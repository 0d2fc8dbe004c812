package dev.livemig.migration.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.MigrationStats;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.GuestSpec.Workload;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.FaultInjectingPageChannel;
import dev.livemig.migration.transport.FaultInjectingPageChannel.Fault;
import dev.livemig.migration.transport.FaultInjectingPageChannel.MessageType;
import dev.livemig.migration.transport.FaultInjectingPageChannel.Rule;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.migration.transport.PageTransfer.RegionChecksums;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.proc.Pagemap;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 5's faults, injected into the page channel over any transport (a subclass says
 * how a source reaches an {@link IncomingMigration}, as in {@link AbstractMigrationE2ETest}): a target that dies or a
 * connection that breaks during pre-copy fails the migration and leaves the source guest
 * running with its memory as it was; a connection lost during post-copy pauses both sides
 * until the source reconnects; a damaged page is caught by its checksum and sent again;
 * duplicated and reordered batches leave the result intact.
 */
public abstract class AbstractMigrationFaultsTest {
    private static final long MIB = 1 << 20;
    private static final long TIMEOUT_MS = 60_000;
    private static final AtomicInteger IDS = new AtomicInteger();

    private final Kernel sourceKernel = new Kernel(new Kernel.Config());
    private final List<AutoCloseable> closeLater = new ArrayList<>();
    private Guest source;

    /**
     * A channel from the source to {@code target} over the transport under test; a second
     * call for the same target is a new connection to the same node (post-copy recovery).
     */
    protected abstract PageChannel connect(IncomingMigration target);

    @AfterEach
    protected void tearDown() throws Exception {
        for (int i = closeLater.size() - 1; i >= 0; i--) {
            closeLater.get(i).close();
        }
        if (source != null) {
            source.close();
        }
        sourceKernel.close();
    }

    private static GuestSpec.Builder guest() {
        return GuestSpec.builder()
                .region(new RegionSpec("anon", RegionKind.ANON, 8 * MIB, 0.75, 0.25))
                .region(new RegionSpec("thp", RegionKind.THP, 4 * MIB, 0.5, 0.0))
                .region(new RegionSpec("shmem", RegionKind.SHMEM, 4 * MIB, 0.75, 0.25))
                .region(new RegionSpec("hugetlb", RegionKind.HUGETLB, 4 * MIB, 1.0, 0.0))
                .vcpuCount(2).seed(5).writeRatePagesPerS(4000);
    }

    /** A running guest whose vCPUs only read: it makes progress, and its memory must not change. */
    private static GuestSpec readOnlyGuest() {
        return guest().workload(Workload.READ_MOSTLY).readFraction(1.0).build();
    }

    private Guest startSource(GuestSpec spec) {
        source = Guest.create(sourceKernel, spec);
        source.start();
        return source;
    }

    private IncomingMigration newTarget() {
        Kernel k = new Kernel(new Kernel.Config());
        IncomingMigration t = new IncomingMigration(k);
        closeLater.add(k);
        closeLater.add(t);
        return t;
    }

    private FaultInjectingPageChannel faulty(IncomingMigration target) {
        FaultInjectingPageChannel ch = new FaultInjectingPageChannel(connect(target));
        closeLater.add(ch);
        return ch;
    }

    private OutgoingMigration migration(PageChannel ch, MigrationParameters p) {
        return new OutgoingMigration("f" + IDS.incrementAndGet(), "g", "in-process", source, ch, p);
    }

    private static MigrationParameters precopy() {
        return MigrationParameters.of(MigrationMode.PRECOPY).withVerifyPages(true);
    }

    // ---- assertions ---------------------------------------------------------------------

    private static long[] flatten(List<RegionChecksums> cs) {
        return cs.stream().flatMapToInt(r -> java.util.Arrays.stream(r.crc32c())).asLongStream().toArray();
    }

    /** The source guest runs, untracked, and every page checksums as before the migration. */
    private void assertSourceRunsIntact(long[] before) throws InterruptedException {
        assertTrue(source.isRunning(), "the source guest runs after the failure");
        long done = source.accessesDone();
        waitUntil(() -> source.accessesDone() > done + 20, "the source guest makes progress");
        source.pause();
        assertNull(source.vcpuError());
        assertEquals(java.util.Arrays.toString(before),
                java.util.Arrays.toString(flatten(PageChecksums.of(source.mm(), source.layout()))),
                "source memory changed");
        assertEquals(0, source.checkStamps(source.mm()));
        for (var r : source.layout().regions()) {
            for (long e : Pagemap.read(source.mm(), r.startAddress(), (int) (r.sizeBytes() >>> 12))) {
                assertEquals(0, e & Pagemap.PM_UFFD_WP, "uffd-wp left in " + r.name());
            }
        }
        source.resume();
    }

    private void assertVerified(OutgoingMigration m, IncomingMigration target) {
        MigrationStats st = m.stats();
        assertEquals(0, st.verifyMismatchPages(), () -> "pages differ: " + st);
        assertEquals(source.layout().pages(), st.verifiedPages(), "every page verified");
        assertEquals(0, st.trackerFalseNegativePages());
        assertEquals(0, source.checkStamps(target.guest().mm()), "stamped pages lost on the way");
        assertNull(target.guest().vcpuError());
    }

    private static void waitUntil(BooleanSupplier cond, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 10_000;
        while (!cond.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out: " + what);
            }
            Thread.sleep(5);
        }
    }

    /** After a failed migration the same source guest goes to a fresh target, and it verifies. */
    private void migrateToAFreshTarget() throws InterruptedException {
        IncomingMigration fresh = newTarget();
        PageChannel ch = connect(fresh);
        closeLater.add(ch);
        OutgoingMigration m = migration(ch, precopy());
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertVerified(m, fresh);
    }

    // ---- the target dies, the connection breaks, a batch is lost -------------------------

    @Test
    void targetDiesDuringPrecopy_failsAndTheSourceRunsOn_thenAFreshTargetSucceeds() throws Exception {
        startSource(readOnlyGuest());
        long[] before = flatten(PageChecksums.of(source.mm(), source.layout()));
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target)
                .inject(Rule.at(MessageType.PAGE_BATCH, 10, Fault.DISCONNECT))
                .onInjection(i -> target.close()); // the target process dies with its connection
        OutgoingMigration m = migration(ch, precopy());
        m.start();
        assertEquals(MigrationState.FAILED, m.awaitFinal(TIMEOUT_MS));
        assertTrue(m.error().contains("page stream broke"), m.error());
        assertEquals(1, ch.injected(Fault.DISCONNECT));
        assertTrue(m.rounds().isEmpty(), "failed within round 0");
        assertSourceRunsIntact(before);
        migrateToAFreshTarget();
    }

    @Test
    void connectionLostDuringPrecopy_bothSidesFailAndTheSourceRunsOn() throws Exception {
        startSource(readOnlyGuest());
        long[] before = flatten(PageChecksums.of(source.mm(), source.layout()));
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target).inject(Rule.at(MessageType.PAGE_BATCH, 6, Fault.DISCONNECT));
        OutgoingMigration m = migration(ch, precopy());
        m.start();
        assertEquals(MigrationState.FAILED, m.awaitFinal(TIMEOUT_MS));
        assertTrue(m.error().contains("connection lost"), m.error());
        assertEquals(IncomingMigration.State.FAILED, target.awaitFinal(10_000), "the target dropped its copy");
        assertTrue(target.error().contains("page stream broke"), target.error());
        assertSourceRunsIntact(before);
        migrateToAFreshTarget();
    }

    @Test
    void connectionLostTwiceDuringPrecopy_withRetries_reconnectsAndVerifies() throws Exception {
        startSource(guest().workload(Workload.HOTSET).hotSet(0.1, 0.9).writeRatePagesPerS(8000).build());
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel first = faulty(target).inject(Rule.at(MessageType.PAGE_BATCH, 6, Fault.DISCONNECT));
        // the first reconnect breaks again after 5 batches, the second one holds
        List<PageChannel> redials = new ArrayList<>();
        OutgoingMigration m = migration(first, precopy().withBandwidthLimitBytesPerS(32 * MIB).withPrecopyRetries(3));
        m.setRedial(() -> {
            PageChannel ch = redials.isEmpty()
                    ? faulty(target).inject(Rule.at(MessageType.PAGE_BATCH, 5, Fault.DISCONNECT))
                    : connect(target);
            closeLater.add(ch);
            redials.add(ch);
            return ch;
        });
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertVerified(m, target);
        assertEquals(1, first.injected(Fault.DISCONNECT));
        assertEquals(1, ((FaultInjectingPageChannel) redials.get(0)).injected(Fault.DISCONNECT));
        assertEquals(2, redials.size(), "one new connection per break");
        List<String> reconnects = m.info().stateChanges().stream().map(c -> c.reason())
                .filter(r -> r.startsWith("page stream reconnected")).toList();
        assertEquals(2, reconnects.size(), reconnects::toString);
        assertTrue(reconnects.get(0).contains("attempt 1 of 3"), reconnects.get(0));
        assertEquals(IncomingMigration.State.COMPLETED, target.state());
    }

    @Test
    void connectionLostDuringPrecopy_retriesExhausted_bothSidesFailCleanly() throws Exception {
        startSource(readOnlyGuest());
        long[] before = flatten(PageChecksums.of(source.mm(), source.layout()));
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target).inject(Rule.at(MessageType.PAGE_BATCH, 6, Fault.DISCONNECT));
        OutgoingMigration m = migration(ch, precopy().withPrecopyRetries(2).withReconnectTimeoutMs(500));
        AtomicInteger dials = new AtomicInteger();
        m.setRedial(() -> {
            dials.incrementAndGet();
            return ch; // the connection stays down: every call on it fails
        });
        m.start();
        assertEquals(MigrationState.FAILED, m.awaitFinal(TIMEOUT_MS));
        assertTrue(m.error().contains("2 reconnect attempts failed"), m.error());
        assertEquals(2, dials.get());
        assertSourceRunsIntact(before);
        // the target kept the half-received guest for the reconnect timeout, then dropped it
        assertEquals(IncomingMigration.State.FAILED, target.awaitFinal(10_000));
        assertTrue(target.error().contains("did not reconnect within 500 ms"), target.error());
        migrateToAFreshTarget();
    }

    @Test
    void aMalformedBatch_isRefused_andFailsAtOnceWithTheTargetsReason_withoutSpendingRetries() throws Exception {
        startSource(readOnlyGuest());
        long[] before = flatten(PageChecksums.of(source.mm(), source.layout()));
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target).inject(Rule.at(MessageType.PAGE_BATCH, 5, Fault.MALFORM));
        OutgoingMigration m = migration(ch, precopy().withPrecopyRetries(5).withReconnectTimeoutMs(30_000));
        AtomicInteger dials = new AtomicInteger();
        m.setRedial(() -> {
            dials.incrementAndGet();
            return connect(target);
        });
        m.start();
        assertEquals(MigrationState.FAILED, m.awaitFinal(TIMEOUT_MS));
        assertTrue(m.error().contains("the target refused a page batch"), m.error());
        assertTrue(m.error().contains("address 0x0 is outside the guest"), "the target's reason: " + m.error());
        assertEquals(0, dials.get(), "a refusal is not a broken connection: no reconnect");
        // the target dropped the migration at once, not after the 30 s reconnect timeout
        assertEquals(IncomingMigration.State.FAILED, target.awaitFinal(10_000));
        assertTrue(target.error().contains("page batch refused"), target.error());
        assertSourceRunsIntact(before);
        migrateToAFreshTarget();
    }

    // ---- a break at the switchover (the guest is paused) ------------------------------------

    /** A migration with retries whose redial opens a plain new connection to {@code target}. */
    private OutgoingMigration retrying(PageChannel first, IncomingMigration target, List<PageChannel> redials) {
        OutgoingMigration m = migration(first, precopy().withPrecopyRetries(2));
        m.setRedial(() -> {
            PageChannel ch = connect(target);
            closeLater.add(ch);
            redials.add(ch);
            return ch;
        });
        return m;
    }

    private static long reconnects(OutgoingMigration m) {
        return m.info().stateChanges().stream().filter(c -> c.reason().startsWith("page stream reconnected")).count();
    }

    @Test
    void connectionLostAtTheSwitchoverCall_withRetries_reconnectsAndCompletes() throws Exception {
        startSource(guest().workload(Workload.HOTSET).hotSet(0.1, 0.9).build());
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target).inject(Rule.at(MessageType.SWITCHOVER, 1, Fault.DISCONNECT));
        List<PageChannel> redials = new ArrayList<>();
        OutgoingMigration m = retrying(ch, target, redials);
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertVerified(m, target);
        assertEquals(1, ch.injected(Fault.DISCONNECT));
        assertEquals(1, redials.size());
        assertEquals(1, reconnects(m));
        assertEquals(IncomingMigration.State.COMPLETED, target.state());
    }

    @Test
    void connectionLostDuringTheStopAndCopyPass_withRetries_resendsWhatWasLostAndCompletes() throws Exception {
        startSource(guest().workload(Workload.HOTSET).hotSet(0.1, 0.9).build());
        IncomingMigration target = newTarget();
        SwitchoverBreakingChannel ch = new SwitchoverBreakingChannel(faulty(target),
                SwitchoverBreakingChannel.When.DURING_STOP_AND_COPY, () -> !source.isRunning());
        List<PageChannel> redials = new ArrayList<>();
        OutgoingMigration m = retrying(ch, target, redials);
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertTrue(ch.broke(), "the connection broke while the source guest was paused");
        assertVerified(m, target);
        assertEquals(1, reconnects(m));
    }

    @Test
    void switchoverAnswerLost_withRetries_theRepeatedSwitchoverGetsTheFirstAnswer() throws Exception {
        startSource(guest().workload(Workload.HOTSET).hotSet(0.1, 0.9).build());
        IncomingMigration target = newTarget();
        SwitchoverBreakingChannel ch = new SwitchoverBreakingChannel(faulty(target),
                SwitchoverBreakingChannel.When.SWITCHOVER_ANSWER_LOST, () -> false);
        List<PageChannel> redials = new ArrayList<>();
        OutgoingMigration m = retrying(ch, target, redials);
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertTrue(ch.broke());
        assertVerified(m, target);
        assertEquals(IncomingMigration.State.COMPLETED, target.state());
        assertTrue(!source.isRunning(), "the guest runs on the target only");
        assertTrue(m.stats().downtimeTargetMs() > 0, "the target's first answer: " + m.stats());
    }

    @Test
    void connectionLostAtTheSwitchoverCall_withoutRetries_failsAndTheSourceResumesIntact() throws Exception {
        startSource(readOnlyGuest());
        long[] before = flatten(PageChecksums.of(source.mm(), source.layout()));
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target).inject(Rule.at(MessageType.SWITCHOVER, 1, Fault.DISCONNECT));
        OutgoingMigration m = migration(ch, precopy());
        m.start();
        assertEquals(MigrationState.FAILED, m.awaitFinal(TIMEOUT_MS));
        assertTrue(m.error().contains("connection lost"), m.error());
        assertEquals(IncomingMigration.State.FAILED, target.awaitFinal(10_000), "the target dropped its copy");
        assertSourceRunsIntact(before);
        migrateToAFreshTarget();
    }

    @Test
    void aLostBatch_failsTheSwitchoverCleanly() throws Exception {
        startSource(readOnlyGuest());
        long[] before = flatten(PageChecksums.of(source.mm(), source.layout()));
        IncomingMigration target = newTarget();
        target.setSwitchoverWaitMs(300);
        FaultInjectingPageChannel ch = faulty(target).inject(Rule.at(MessageType.PAGE_BATCH, 4, Fault.DROP));
        OutgoingMigration m = migration(ch, precopy());
        m.start();
        assertEquals(MigrationState.FAILED, m.awaitFinal(TIMEOUT_MS));
        assertTrue(m.error().contains("first missing 3"), m.error());
        assertSourceRunsIntact(before);
        migrateToAFreshTarget();
    }

    @Test
    void connectionLostDuringPostcopy_bothSidesPause_thenRecoverOnANewConnectionAndVerify() throws Exception {
        startSource(guest().workload(Workload.UNIFORM).writeRatePagesPerS(20_000).build());
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target).inject(Rule.at(MessageType.PAGE_BATCH, 4, Fault.DISCONNECT));
        OutgoingMigration m = migration(ch, MigrationParameters.of(MigrationMode.POSTCOPY).withVerifyPages(true)
                .withBandwidthLimitBytesPerS(16 * MIB));
        m.start();
        waitUntil(() -> m.postcopyPaused() && target.postcopyPaused(), "both sides paused");
        assertEquals(MigrationState.POSTCOPY_ACTIVE, m.state(), "paused, not failed: the guest lives on the target");
        assertEquals(IncomingMigration.State.RUNNING, target.state());
        assertTrue(m.error().contains("connection lost"), m.error());
        java.util.regex.Matcher said = java.util.regex.Pattern.compile("(\\d+) pages never arrived")
                .matcher(target.error());
        assertTrue(said.find(), target.error());
        assertTrue(Long.parseLong(said.group(1)) > 0, "the target says which pages it still lacks");
        long accesses = target.guest().accessesDone();
        Thread.sleep(50); // the guest runs into missing pages meanwhile; those vCPUs wait
        PageChannel fresh = connect(target);
        closeLater.add(fresh);
        m.recoverPostcopy(fresh);
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertVerified(m, target);
        // its vCPUs that waited on missing pages were woken: the guest goes on
        waitUntil(() -> target.guest().accessesDone() > accesses, "the target guest makes progress");
        assertTrue(m.info().stateChanges().stream().anyMatch(c -> c.reason().startsWith("paused:")));
        assertTrue(m.info().stateChanges().stream().anyMatch(c -> c.reason().startsWith("recovered")));
    }

    // ---- damaged, duplicated, reordered pages -------------------------------------------

    @Test
    void aCorruptedPage_isDetectedByItsChecksumAndSentAgain() throws Exception {
        startSource(guest().workload(Workload.IDLE).build());
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target).inject(Rule.at(MessageType.PAGE_BATCH, 2, Fault.CORRUPT));
        OutgoingMigration m = migration(ch, precopy());
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertVerified(m, target);
        assertEquals(1, target.counters().checksumMismatchPages(), "the damaged page was caught on arrival");
        String reason = m.info().stateChanges().get(m.info().stateChanges().size() - 1).reason();
        assertTrue(reason.contains("1 pages resent"), reason);
    }

    @Test
    void manyCorruptedPagesInARunningGuest_stillVerify() throws Exception {
        startSource(guest().workload(Workload.HOTSET).hotSet(0.1, 0.9).writeRatePagesPerS(8000).build());
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target)
                .inject(Rule.at(MessageType.PAGE_BATCH, 3, Fault.CORRUPT).everyAfter(4));
        OutgoingMigration m = migration(ch, precopy().withBandwidthLimitBytesPerS(64 * MIB));
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertVerified(m, target);
        assertTrue(ch.injected(Fault.CORRUPT) > 3, "corruptions injected: " + ch.injected(Fault.CORRUPT));
        assertTrue(target.counters().checksumMismatchPages() > 3);
    }

    @Test
    void corruptedPagesAfterAPostcopySwitchover_areRequestedAgain() throws Exception {
        startSource(guest().workload(Workload.UNIFORM).writeRatePagesPerS(20_000).build());
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target)
                .inject(Rule.at(MessageType.POSTCOPY_SOURCE, 2, Fault.CORRUPT).everyAfter(3))
                .inject(Rule.at(MessageType.PAGE_BATCH, 1, Fault.CORRUPT).everyAfter(4));
        OutgoingMigration m = migration(ch, MigrationParameters.of(MigrationMode.POSTCOPY).withVerifyPages(true)
                .withBandwidthLimitBytesPerS(16 * MIB));
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertVerified(m, target);
        assertTrue(target.counters().checksumMismatchPages() > 0, "damaged pages arrived");
        assertTrue(ch.injected(Fault.CORRUPT) > 1);
    }

    @Test
    void duplicatedAndReorderedBatches_leaveTheResultIntact() throws Exception {
        startSource(guest().workload(Workload.HOTSET).hotSet(0.05, 0.95).writeRatePagesPerS(10_000).build());
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target)
                .inject(Rule.at(MessageType.PAGE_BATCH, 2, Fault.DUPLICATE).everyAfter(3))
                .inject(Rule.at(MessageType.PAGE_BATCH, 1, Fault.REORDER).everyAfter(3));
        OutgoingMigration m = migration(ch, precopy().withBandwidthLimitBytesPerS(32 * MIB));
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertVerified(m, target);
        assertTrue(ch.injected(Fault.DUPLICATE) > 0 && ch.injected(Fault.REORDER) > 0);
        assertEquals(ch.injected(Fault.DUPLICATE), target.counters().duplicateBatches(), "every duplicate was recognised");
    }

    @Test
    void delayedMessages_onlySlowTheMigrationDown() throws Exception {
        startSource(guest().build());
        IncomingMigration target = newTarget();
        FaultInjectingPageChannel ch = faulty(target)
                .inject(Rule.at(MessageType.PAGE_BATCH, 1, Fault.DELAY).everyAfter(10).withDelayMs(20))
                .inject(Rule.at(MessageType.SWITCHOVER, 1, Fault.DELAY).withDelayMs(50));
        OutgoingMigration m = migration(ch, precopy());
        m.start();
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(TIMEOUT_MS), m::error);
        assertVerified(m, target);
        assertTrue(ch.injected(Fault.DELAY) > 1);
    }
}
