package dev.livemig.source.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.MigrationStats;
import dev.livemig.proto.v1.ProgressEvent;
import dev.livemig.proto.v1.RegionKind;
import dev.livemig.proto.v1.RegionSpec;
import dev.livemig.proto.v1.RoundDecision;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.WatchRequest;
import dev.livemig.proto.v1.Workload;
import dev.livemig.source.SourceNodeMain;
import dev.livemig.target.TargetNodeMain;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Source and target as separate JVM processes on loopback, over Netty: the nodes' own
 * mains on this test's classpath, each on a port the OS picks (--port 0, read back from
 * the node's "listening on" line). A client drives migrations through MigrationControl
 * and checks the proof: every page verified equal, no tracker miss, the downtime measured
 * by both nodes and by the source node's probe; in pre-copy, post-copy and a hybrid that
 * cannot converge. (Cancels across processes: {@link CancelAcrossProcessesIT}.)
 */
class SourceTargetProcessesIT {
    private static final long MIB = 1 << 20;

    private static NodeProcess targetProcess;
    private static NodeProcess sourceProcess;
    private static int targetPort;
    private static ManagedChannel client;
    private static MigrationControlGrpc.MigrationControlBlockingStub stub;

    @BeforeAll
    static void startNodes() throws Exception {
        targetProcess = NodeProcess.start(TargetNodeMain.class, "target-node", 512);
        targetPort = targetProcess.port;
        sourceProcess = NodeProcess.start(SourceNodeMain.class, "source-node", 512);
        int sourcePort = sourceProcess.port;
        client = Grpc.newChannelBuilder("127.0.0.1:" + sourcePort, InsecureChannelCredentials.create()).build();
        stub = MigrationControlGrpc.newBlockingStub(client);
    }

    @AfterAll
    static void stopNodes() throws Exception {
        if (client != null) {
            client.shutdownNow();
        }
        for (NodeProcess p : new NodeProcess[] {sourceProcess, targetProcess}) {
            if (p != null) {
                p.close();
            }
        }
    }

    @Test
    void bothNodesReportServing() {
        assertEquals(HealthCheckResponse.ServingStatus.SERVING,
                HealthGrpc.newBlockingStub(client).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .check(HealthCheckRequest.newBuilder().setService(MigrationControlGrpc.SERVICE_NAME).build())
                        .getStatus());
        ManagedChannel t = Grpc.newChannelBuilder("127.0.0.1:" + targetPort, InsecureChannelCredentials.create())
                .build();
        try {
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, HealthGrpc.newBlockingStub(t)
                    .withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.newBuilder()
                            .setService("livemig.v1.PageTransfer").build()).getStatus());
        } finally {
            t.shutdownNow();
        }
    }

    /** One region of every kind; {@code w} at {@code writeRate} pages/s on 2 vCPUs. */
    private static String createGuest(Workload w, long writeRate) {
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
                        .setWorkload(w).setWriteRatePagesPerS(writeRate).setVcpuCount(2)
                        .setSeed(11)).build()).getGuestId();
    }

    /**
     * Migrates {@code guest} with {@code p} (and verify_pages), watching it to the end; checks
     * the proof (every page verified equal, no tracker miss) and that the downtime was
     * measured three ways: by the target against the source's pause stamp, by the source,
     * and by the source node's probe, which asks the target process once its own guest stops
     * answering.
     */
    private MigrationInfo migrateAndVerify(String guest, MigrationParameters.Builder p) {
        String id = stub.withDeadlineAfter(60, TimeUnit.SECONDS).startMigration(StartMigrationRequest.newBuilder()
                .setGuestId(guest).setTargetAddress("127.0.0.1:" + targetPort)
                .setParameters(p.setVerifyPages(true)).build()).getMigrationId();
        List<ProgressEvent> events = new ArrayList<>();
        stub.withDeadlineAfter(120, TimeUnit.SECONDS).watch(WatchRequest.newBuilder().setMigrationId(id)
                .setIncludeHistory(true).build()).forEachRemaining(events::add);
        MigrationInfo info = stub.withDeadlineAfter(60, TimeUnit.SECONDS)
                .getInfo(GetInfoRequest.newBuilder().setMigrationId(id).build());
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState(), info::toString);
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED,
                events.get(events.size() - 1).getStateChange().getToState());
        MigrationStats st = info.getStats();
        assertTrue(st.getVerifiedPages() > 0, st::toString);
        assertEquals(0, st.getVerifyMismatchPages(), st::toString);
        assertEquals(0, st.getTrackerFalseNegativePages(), st::toString);
        assertTrue(st.getBytesSent() > 0 && st.getDowntimeTargetMs() > 0 && st.getDowntimeSourceMs() > 0,
                st::toString);
        assertTrue(st.getDowntimeProbeMs() > 0, () -> "the node's probe measured the gap: " + st);
        return info;
    }

    @ParameterizedTest
    @EnumSource(value = MigrationMode.class, names = {"MIGRATION_MODE_PRECOPY", "MIGRATION_MODE_POSTCOPY"})
    void migrationBetweenProcesses_completesAndVerifies(MigrationMode mode) {
        MigrationInfo info = migrateAndVerify(createGuest(Workload.WORKLOAD_HOTSET, 4000),
                MigrationParameters.newBuilder().setMode(mode).setBandwidthLimitBytesPerS(128 * MIB));
        MigrationStats st = info.getStats();
        if (mode == MigrationMode.MIGRATION_MODE_PRECOPY) {
            assertTrue(st.getTrackerTruePositivePages() > 0, "the guest wrote during pre-copy: " + st);
            RoundRecord last = info.getRounds(info.getRoundsCount() - 1);
            assertTrue(last.getSwitchoverCost().getTargetResumeMs() > 0,
                    () -> "the stop-and-copy round carries the switchover's measured cost: " + last);
        }
    }

    /**
     * A guest writing 40 000 pages/s (160 MB/s) over a 16 MiB/s link cannot converge: hybrid
     * mode switches to post-copy, the round that decided it is the last in the list, and the
     * target still holds every page as it was at the pause.
     */
    @Test
    void writeHeavyHybridBetweenProcesses_switchesToPostcopyAndVerifies() {
        MigrationInfo info = migrateAndVerify(createGuest(Workload.WORKLOAD_UNIFORM, 40_000),
                MigrationParameters.newBuilder().setMode(MigrationMode.MIGRATION_MODE_HYBRID)
                        .setBandwidthLimitBytesPerS(16 * MIB).setDowntimeLimitMs(20).setMaxRounds(6));
        List<RoundRecord> rounds = info.getRoundsList();
        RoundRecord last = rounds.get(rounds.size() - 1);
        assertEquals(RoundDecision.ROUND_DECISION_POSTCOPY, last.getDecision(), () -> "rounds " + rounds);
        assertTrue(last.getSentPages() > 0, () -> "the deciding round, not an empty one after it: " + last);
        assertEquals(1, rounds.stream().filter(r -> r.getDecision() == RoundDecision.ROUND_DECISION_POSTCOPY)
                .count(), () -> "rounds " + rounds);
        assertTrue(last.getPredictedDowntimeMs() > 20, "switched because the prediction exceeded the limit");
        assertTrue(info.getStateChangesList().stream()
                .anyMatch(c -> c.getToState() == MigrationState.MIGRATION_STATE_POSTCOPY_ACTIVE), info::toString);
    }

}
