package dev.livemig.source.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.proc.Pagemap;
import dev.livemig.proto.v1.CancelRequest;
import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.RegionKind;
import dev.livemig.proto.v1.RegionSpec;
import dev.livemig.proto.v1.RoundDecision;
import dev.livemig.proto.v1.RunRoundRequest;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.SwitchoverPolicy;
import dev.livemig.proto.v1.Workload;
import dev.livemig.source.SourceNode;
import dev.livemig.target.TargetNodeMain;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A cancel in every state a client can reach, with the target in a separate JVM process
 * on loopback: in SETUP (the handshake held up on the way), during round 0, between two
 * manual rounds, in POSTCOPY_ACTIVE (refused: the guest runs on the target) and after
 * COMPLETED (a no-op). After each accepted cancel the source guest runs on, with no
 * throttle and no uffd-wp bit left behind, and every page bit for bit as before (the
 * guest only reads, so its memory must not change at all), and a new migration of it to
 * the same target process verifies.
 *
 * <p>The source node runs in this JVM (over gRPC in-process for the client, Netty to the
 * target) so that the test can checksum the source guest's memory directly.
 */
class CancelAcrossProcessesIT {
    private static final long MIB = 1 << 20;

    private static NodeProcess targetProcess;
    private static int targetPort;
    private Kernel sourceKernel;
    private SourceNode source;
    private ManagedChannel client;
    private MigrationControlGrpc.MigrationControlBlockingStub stub;

    @BeforeAll
    static void targetNode() throws Exception {
        targetProcess = NodeProcess.start(TargetNodeMain.class, "cancel-target", 512);
        targetPort = targetProcess.port;
    }

    @AfterAll
    static void stopTarget() throws Exception {
        if (targetProcess != null) {
            targetProcess.close();
        }
    }

    @BeforeEach
    void sourceNode() throws Exception {
        sourceKernel = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(16));
        String name = InProcessServerBuilder.generateName();
        source = new SourceNode(InProcessServerBuilder.forName(name), sourceKernel,
                SourceNode::dialOverNetty).start();
        client = InProcessChannelBuilder.forName(name).build();
        stub = MigrationControlGrpc.newBlockingStub(client);
    }

    @AfterEach
    void close() throws Exception {
        client.shutdownNow();
        source.close();
        sourceKernel.close();
    }

    // ---- fixtures --------------------------------------------------------------------------

    /** A guest of every region kind whose vCPUs only read: its memory must never change. */
    private String createReadOnlyGuest() {
        return stub.withDeadlineAfter(60, TimeUnit.SECONDS).createGuest(CreateGuestRequest.newBuilder()
                .setSpec(GuestSpec.newBuilder()
                        .addRegions(RegionSpec.newBuilder().setName("anon").setKind(RegionKind.REGION_KIND_ANON)
                                .setSizeBytes(16 * MIB).setPopulatedFraction(0.75).setZeroPageFraction(0.25))
                        .addRegions(RegionSpec.newBuilder().setName("thp").setKind(RegionKind.REGION_KIND_THP)
                                .setSizeBytes(8 * MIB))
                        .addRegions(RegionSpec.newBuilder().setName("shmem").setKind(RegionKind.REGION_KIND_SHMEM)
                                .setSizeBytes(4 * MIB))
                        .addRegions(RegionSpec.newBuilder().setName("hugetlb")
                                .setKind(RegionKind.REGION_KIND_HUGETLB).setSizeBytes(4 * MIB))
                        .setWorkload(Workload.WORKLOAD_READ_MOSTLY).setReadFraction(1.0)
                        .setWriteRatePagesPerS(4000).setVcpuCount(2).setSeed(5)).build()).getGuestId();
    }

    private String migrate(String guest, String address, MigrationParameters.Builder p) {
        return stub.withDeadlineAfter(60, TimeUnit.SECONDS).startMigration(StartMigrationRequest.newBuilder()
                .setGuestId(guest).setTargetAddress(address).setParameters(p.setVerifyPages(true)).build())
                .getMigrationId();
    }

    private MigrationState cancel(String id) {
        return stub.withDeadlineAfter(60, TimeUnit.SECONDS).cancel(CancelRequest.newBuilder().setMigrationId(id)
                .setReason("operator").build()).getState();
    }

    private MigrationInfo info(String id) {
        return stub.withDeadlineAfter(30, TimeUnit.SECONDS).getInfo(GetInfoRequest.newBuilder().setMigrationId(id)
                .build());
    }

    private static void waitUntil(BooleanSupplier cond, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out: " + what);
            }
            Thread.sleep(5);
        }
    }

    private static long[] checksums(Guest g) {
        return PageChecksums.of(g.mm(), g.layout()).stream().flatMapToInt(r -> Arrays.stream(r.crc32c()))
                .asLongStream().toArray();
    }

    /**
     * The cancelled migration left the source as it found it: the guest runs, untracked and
     * unthrottled, every page as {@code before}; then a new migration to the same target
     * process completes and verifies (the target dropped the half-received copy).
     */
    private void assertSourceIntactAndMigratable(String guestId, String cancelledId, long[] before)
            throws InterruptedException {
        MigrationInfo cancelled = info(cancelledId);
        assertEquals(MigrationState.MIGRATION_STATE_CANCELLED, cancelled.getState(), cancelled::toString);
        Guest guest = source.guest(guestId);
        assertTrue(guest.isRunning(), "the source guest runs after the cancel");
        long done = guest.accessesDone();
        waitUntil(() -> guest.accessesDone() > done + 20, "the source guest makes progress");
        guest.pause();
        assertNull(guest.vcpuError());
        assertArrayEquals(before, checksums(guest), "source memory changed");
        for (var r : guest.layout().regions()) {
            for (long e : Pagemap.read(guest.mm(), r.startAddress(), (int) (r.sizeBytes() >>> 12))) {
                assertEquals(0, e & Pagemap.PM_UFFD_WP, "uffd-wp left in " + r.name());
            }
        }
        assertEquals(0, guest.throttlePercent());
        guest.resume();

        String again = migrate(guestId, "127.0.0.1:" + targetPort, MigrationParameters.newBuilder()
                .setMode(MigrationMode.MIGRATION_MODE_PRECOPY));
        waitUntil(() -> source.migration(again).state().isFinal(), "the second migration ends");
        MigrationInfo info = info(again);
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState(), info::toString);
        assertEquals(0, info.getStats().getVerifyMismatchPages(), info::toString);
        assertEquals(guest.layout().pages(), info.getStats().getVerifiedPages(), info::toString);
    }

    // ---- one test per state ------------------------------------------------------------------

    @Test
    void cancelInSetup_whileTheHandshakeIsOnTheWay() throws Exception {
        String guestId = createReadOnlyGuest();
        long[] before = checksums(source.guest(guestId));
        String id;
        try (TcpProxy proxy = new TcpProxy(targetPort)) {
            proxy.hold();
            id = migrate(guestId, "127.0.0.1:" + proxy.port(), MigrationParameters.newBuilder()
                    .setMode(MigrationMode.MIGRATION_MODE_PRECOPY));
            OutgoingMigration m = source.migration(id);
            waitUntil(() -> proxy.connections() > 0, "the handshake's connection is open");
            assertEquals(MigrationControl.MigrationState.SETUP, m.state());
            // the cancel waits for the step under way, the handshake, which the relay holds up
            Thread canceller = new Thread(() -> cancel(id));
            canceller.start();
            waitUntil(CancelAcrossProcessesIT::engineCancelWaiting, "the cancel reached the engine");
            proxy.release();
            canceller.join(60_000);
        }
        MigrationInfo info = info(id);
        assertEquals(MigrationState.MIGRATION_STATE_CANCELLED, info.getState(), info::toString);
        assertEquals(MigrationState.MIGRATION_STATE_SETUP,
                info.getStateChanges(info.getStateChangesCount() - 1).getFromState(), "cancelled in SETUP");
        assertEquals(0, info.getRoundsCount());
        assertSourceIntactAndMigratable(guestId, id, before);
    }

    /** A thread of this JVM is inside OutgoingMigration.cancel (waiting for the step under way). */
    private static boolean engineCancelWaiting() {
        return Thread.getAllStackTraces().values().stream().anyMatch(st -> Arrays.stream(st).anyMatch(
                f -> f.getClassName().equals(OutgoingMigration.class.getName()) && f.getMethodName().equals("cancel")));
    }

    @Test
    void cancelDuringRound0() throws Exception {
        String guestId = createReadOnlyGuest();
        long[] before = checksums(source.guest(guestId));
        String id = migrate(guestId, "127.0.0.1:" + targetPort, MigrationParameters.newBuilder()
                .setMode(MigrationMode.MIGRATION_MODE_PRECOPY).setBandwidthLimitBytesPerS(4 * MIB));
        OutgoingMigration m = source.migration(id);
        waitUntil(() -> m.stats().bytesSent() > 2 * MIB, "round 0 under way"); // ~24 MiB at 4 MiB/s
        assertEquals(MigrationState.MIGRATION_STATE_CANCELLED, cancel(id));
        assertEquals(0, info(id).getRoundsCount(), "round 0 did not finish");
        assertSourceIntactAndMigratable(guestId, id, before);
    }

    @Test
    void cancelBetweenRounds() throws Exception {
        String guestId = createReadOnlyGuest();
        long[] before = checksums(source.guest(guestId));
        String id = migrate(guestId, "127.0.0.1:" + targetPort, MigrationParameters.newBuilder()
                .setMode(MigrationMode.MIGRATION_MODE_PRECOPY).setManualRounds(true).setDowntimeLimitMs(1)
                .setSwitchoverPolicy(SwitchoverPolicy.SWITCHOVER_POLICY_WAIT));
        assertEquals(RoundDecision.ROUND_DECISION_CONTINUE, stub.withDeadlineAfter(60, TimeUnit.SECONDS)
                .runRound(RunRoundRequest.newBuilder().setMigrationId(id).build()).getDecision());
        assertEquals(MigrationState.MIGRATION_STATE_ACTIVE, info(id).getState());
        assertEquals(MigrationState.MIGRATION_STATE_CANCELLED, cancel(id));
        assertSourceIntactAndMigratable(guestId, id, before);
    }

    @Test
    void cancelInPostcopy_isRefusedAndTheMigrationVerifies() throws Exception {
        String guestId = createReadOnlyGuest();
        String id = migrate(guestId, "127.0.0.1:" + targetPort, MigrationParameters.newBuilder()
                .setMode(MigrationMode.MIGRATION_MODE_POSTCOPY).setBandwidthLimitBytesPerS(4 * MIB));
        OutgoingMigration m = source.migration(id);
        waitUntil(() -> m.state() == MigrationControl.MigrationState.POSTCOPY_ACTIVE, "POSTCOPY_ACTIVE");
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> cancel(id));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e::toString);
        waitUntil(() -> m.state().isFinal(), "the post-copy ends");
        MigrationInfo info = info(id);
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState(), info::toString);
        assertEquals(0, info.getStats().getVerifyMismatchPages(), info::toString);
        assertEquals(source.guest(guestId).layout().pages(), info.getStats().getVerifiedPages());
    }

    @Test
    void cancelAfterCompletion_returnsCompleted() throws Exception {
        String guestId = createReadOnlyGuest();
        String id = migrate(guestId, "127.0.0.1:" + targetPort, MigrationParameters.newBuilder()
                .setMode(MigrationMode.MIGRATION_MODE_PRECOPY));
        waitUntil(() -> source.migration(id).state().isFinal(), "the migration ends");
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info(id).getState());
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, cancel(id));
    }
}
