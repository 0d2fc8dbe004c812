package dev.livemig.source.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.FieldMask;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.mm.Kernel;
import dev.livemig.proto.v1.CancelRequest;
import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.CreateGuestResponse;
import dev.livemig.proto.v1.DirtyRateResult;
import dev.livemig.proto.v1.DirtyTrackerKind;
import dev.livemig.proto.v1.GetGuestRequest;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.GuestInfo;
import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MeasureDirtyRateRequest;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.ProgressEvent;
import dev.livemig.proto.v1.RegionKind;
import dev.livemig.proto.v1.RegionSpec;
import dev.livemig.proto.v1.RoundDecision;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.RunRoundRequest;
import dev.livemig.proto.v1.SetParametersRequest;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.StartMigrationResponse;
import dev.livemig.proto.v1.StopGuestRequest;
import dev.livemig.proto.v1.SwitchoverPolicy;
import dev.livemig.proto.v1.WatchRequest;
import dev.livemig.proto.v1.Workload;
import dev.livemig.source.SourceNode;
import dev.livemig.target.TargetNode;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * MigrationControl through a real client stub: a source node and a target node, each
 * behind its own in-process server, the source dialling the target by name.
 */
class MigrationControlServiceTest {
    private static final long MIB = 1 << 20;

    private Kernel sourceKernel;
    private Kernel targetKernel;
    private TargetNode target;
    private SourceNode source;
    private String targetName;
    private ManagedChannel client;
    private MigrationControlGrpc.MigrationControlBlockingStub stub;

    @BeforeEach
    void nodes() throws Exception {
        sourceKernel = new Kernel(new Kernel.Config().softDirty(true));
        targetKernel = new Kernel(new Kernel.Config().softDirty(true));
        targetName = InProcessServerBuilder.generateName();
        target = new TargetNode(InProcessServerBuilder.forName(targetName),
                () -> new IncomingMigration(targetKernel)).start();
        String sourceName = InProcessServerBuilder.generateName();
        source = new SourceNode(InProcessServerBuilder.forName(sourceName), sourceKernel,
                name -> InProcessChannelBuilder.forName(name).build()).start();
        client = InProcessChannelBuilder.forName(sourceName).build();
        stub = MigrationControlGrpc.newBlockingStub(client).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterEach
    void close() throws Exception {
        client.shutdownNow();
        source.close();
        target.close();
        target.migrations().close();
        sourceKernel.close();
        targetKernel.close();
    }

    private static GuestSpec.Builder smallGuest() {
        return GuestSpec.newBuilder()
                .addRegions(RegionSpec.newBuilder().setName("anon").setKind(RegionKind.REGION_KIND_ANON)
                        .setSizeBytes(8 * MIB).setPopulatedFraction(0.75).setZeroPageFraction(0.25))
                .addRegions(RegionSpec.newBuilder().setName("shmem").setKind(RegionKind.REGION_KIND_SHMEM)
                        .setSizeBytes(4 * MIB))
                .addRegions(RegionSpec.newBuilder().setName("hugetlb").setKind(RegionKind.REGION_KIND_HUGETLB)
                        .setSizeBytes(4 * MIB))
                .setWorkload(Workload.WORKLOAD_UNIFORM).setWriteRatePagesPerS(4000).setVcpuCount(2).setSeed(7);
    }

    private CreateGuestResponse createGuest() {
        return stub.createGuest(CreateGuestRequest.newBuilder().setSpec(smallGuest()).build());
    }

    private static Status.Code codeOf(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
    }

    @Test
    void createGuest_reportsItsLayoutAndPopulatedPages() {
        CreateGuestResponse g = createGuest();
        assertFalse(g.getGuestId().isEmpty());
        assertEquals(16 * MIB, g.getSizeBytes());
        assertEquals(3, g.getRegionsCount());
        assertEquals(2 * MIB, g.getRegions(2).getPageSizeBytes(), "hugetlb pages are 2 MiB");
        assertEquals(2048 + 1024 + 2, g.getRegions(0).getSizeBytes() / 4096 + g.getRegions(1).getSizeBytes() / 4096
                + g.getRegions(2).getSizeBytes() / g.getRegions(2).getPageSizeBytes());
        long anon = g.getRegions(0).getPopulatedPages();
        assertTrue(anon > 0 && anon < 2048, "a 0.75 populated fraction leaves holes: " + anon);
        assertEquals(1024, g.getRegions(1).getPopulatedPages(), "0 means fully populated");
        assertEquals(anon + 1024 + 2, g.getPopulatedPages());
    }

    @Test
    void manualMigration_runRoundsWatchInfoAndComplete() throws Exception {
        String guest = createGuest().getGuestId();
        MigrationParameters p = MigrationParameters.newBuilder().setMode(MigrationMode.MIGRATION_MODE_PRECOPY)
                .setManualRounds(true).setDowntimeLimitMs(1).setVerifyPages(true)
                .setBandwidthLimitBytesPerS(64 * MIB).setSwitchoverPolicy(SwitchoverPolicy.SWITCHOVER_POLICY_WAIT)
                .build();
        StartMigrationResponse started = stub.startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(targetName).setParameters(p).build());
        assertEquals(MigrationState.MIGRATION_STATE_ACTIVE, started.getState(), "manual rounds: setup ran");
        assertEquals(30, started.getParameters().getMaxRounds(), "defaults filled in");
        String id = started.getMigrationId();

        Iterator<ProgressEvent> watch = MigrationControlGrpc.newBlockingStub(client)
                .watch(WatchRequest.newBuilder().setMigrationId(id).setIncludeHistory(true).build());

        RoundRecord r0 = stub.runRound(RunRoundRequest.newBuilder().setMigrationId(id).build());
        assertEquals(0, r0.getRound());
        assertEquals(RoundDecision.ROUND_DECISION_CONTINUE, r0.getDecision(), r0.getReason());
        assertTrue(r0.getSentPages() > 0 && r0.getBytesSent() > 0);

        // mode is fixed once running; the downtime limit is not
        SetParametersRequest changeMode = SetParametersRequest.newBuilder().setMigrationId(id)
                .setParameters(MigrationParameters.newBuilder().setMode(MigrationMode.MIGRATION_MODE_POSTCOPY))
                .setUpdateMask(FieldMask.newBuilder().addPaths("mode")).build();
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.setParameters(changeMode)));
        MigrationParameters now = stub.setParameters(SetParametersRequest.newBuilder().setMigrationId(id)
                .setParameters(MigrationParameters.newBuilder().setDowntimeLimitMs(60_000))
                .setUpdateMask(FieldMask.newBuilder().addPaths("downtime_limit_ms")).build());
        assertEquals(60_000, now.getDowntimeLimitMs());
        assertEquals(64 * MIB, now.getBandwidthLimitBytesPerS(), "fields outside the mask unchanged");

        RoundRecord r1 = stub.runRound(RunRoundRequest.newBuilder().setMigrationId(id).build());
        assertEquals(RoundDecision.ROUND_DECISION_SWITCHOVER, r1.getDecision(), r1.getReason());

        List<ProgressEvent> events = new ArrayList<>();
        watch.forEachRemaining(events::add);
        ProgressEvent last = events.get(events.size() - 1);
        assertTrue(last.hasStateChange());
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, last.getStateChange().getToState(),
                "the stream ends after the final state");
        assertTrue(events.stream().anyMatch(e -> e.hasRound() && e.getRound().getRound() == 0));
        assertTrue(events.stream().anyMatch(e -> e.hasStateChange()
                && e.getStateChange().getToState() == MigrationState.MIGRATION_STATE_ACTIVE), "history replayed");
        assertEquals(events.stream().filter(e -> e.hasRound()).count(),
                events.stream().filter(e -> e.hasRound()).map(e -> e.getRound().getRound()).distinct().count(),
                "no round twice");

        MigrationInfo info = stub.getInfo(GetInfoRequest.newBuilder().setMigrationId(id).build());
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState());
        assertEquals(guest, info.getGuestId());
        assertTrue(info.getStats().getVerifiedPages() > 0);
        assertEquals(0, info.getStats().getVerifyMismatchPages());
        assertEquals(0, info.getStats().getTrackerFalseNegativePages());
        assertEquals(info.getStats().getRounds(), info.getRoundsCount());
        assertEquals(0, stub.getInfo(GetInfoRequest.newBuilder().setOmitRounds(true).build()).getRoundsCount(),
                "no id: the latest migration, rounds omitted");
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED,
                stub.cancel(CancelRequest.newBuilder().setMigrationId(id).build()).getState(), "too late to cancel");
        assertEquals(Status.Code.FAILED_PRECONDITION, codeOf(() -> stub.startMigration(StartMigrationRequest
                .newBuilder().setGuestId(guest).setTargetAddress(targetName).build())), "the guest has left");
    }

    @Test
    void automaticMigration_watchStreamsRoundsAndProgressUntilCompleted() {
        String guest = createGuest().getGuestId();
        String id = stub.startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(targetName).setParameters(MigrationParameters.newBuilder()
                        .setMode(MigrationMode.MIGRATION_MODE_HYBRID).setPostcopyAfterRounds(2).setDowntimeLimitMs(1)
                        .setBandwidthLimitBytesPerS(32 * MIB).setVerifyPages(true)).build()).getMigrationId();
        List<ProgressEvent> events = new ArrayList<>();
        MigrationControlGrpc.newBlockingStub(client).watch(WatchRequest.newBuilder().setMigrationId(id)
                .setIncludeHistory(true).setProgressIntervalMs(20).build()).forEachRemaining(events::add);
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED,
                events.get(events.size() - 1).getStateChange().getToState());
        assertTrue(events.stream().anyMatch(e -> e.hasStateChange()
                && e.getStateChange().getToState() == MigrationState.MIGRATION_STATE_POSTCOPY_ACTIVE));
        assertTrue(events.stream().anyMatch(ProgressEvent::hasProgress), "periodic progress");
        // The samples carry the round in flight (not just finished rounds): at a 32 MiB/s limit
        // a 20 ms tick lands inside round 0 while it still has pages to send.
        assertTrue(events.stream().filter(ProgressEvent::hasProgress).map(ProgressEvent::getProgress)
                .anyMatch(p -> p.getRoundSentPages() > 0 && p.getRoundRemainingPages() > 0),
                "a sample inside a round: " + events.stream().filter(ProgressEvent::hasProgress).toList());
        MigrationInfo info = stub.getInfo(GetInfoRequest.newBuilder().setMigrationId(id).build());
        assertEquals(0, info.getStats().getVerifyMismatchPages());
        assertTrue(info.getStats().getVerifiedPages() > 0);
    }

    @Test
    void cancel_leavesTheGuestOnTheSourceAndFreeToMigrateAgain() {
        String guest = createGuest().getGuestId();
        MigrationParameters p = MigrationParameters.newBuilder().setManualRounds(true).setDowntimeLimitMs(1)
                .setSwitchoverPolicy(SwitchoverPolicy.SWITCHOVER_POLICY_WAIT).build();
        String id = stub.startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(targetName).setParameters(p).build()).getMigrationId();
        stub.runRound(RunRoundRequest.newBuilder().setMigrationId(id).build());
        assertEquals(MigrationState.MIGRATION_STATE_CANCELLED,
                stub.cancel(CancelRequest.newBuilder().setMigrationId(id).setReason("operator").build()).getState());
        MigrationInfo info = stub.getInfo(GetInfoRequest.newBuilder().setMigrationId(id).build());
        assertEquals("operator", info.getStateChanges(info.getStateChangesCount() - 1).getReason());
        assertEquals(Status.Code.FAILED_PRECONDITION,
                codeOf(() -> stub.runRound(RunRoundRequest.newBuilder().setMigrationId(id).build())));
        DirtyRateResult rate = stub.measureDirtyRate(MeasureDirtyRateRequest.newBuilder().setGuestId(guest)
                .setDurationMs(200).setTracker(DirtyTrackerKind.DIRTY_TRACKER_KIND_WP_ASYNC).build());
        assertTrue(rate.getDirtyPages() > 0, "the guest still runs and writes on the source: " + rate);
        String again = stub.startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(targetName).build()).getMigrationId();
        assertFalse(again.equals(id));
    }

    @Test
    void badRequests_areRefusedWithoutChangingAnything() {
        String guest = createGuest().getGuestId();
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.createGuest(CreateGuestRequest.getDefaultInstance())));
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.createGuest(CreateGuestRequest.newBuilder()
                .setSpec(GuestSpec.newBuilder().addRegions(RegionSpec.newBuilder().setName("r").setSizeBytes(MIB)))
                .build())), "region kind unspecified");
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.createGuest(CreateGuestRequest.newBuilder()
                .setSpec(GuestSpec.newBuilder().addRegions(RegionSpec.newBuilder().setName("r")
                        .setKind(RegionKind.REGION_KIND_HUGETLB).setSizeBytes(MIB))).build())),
                "hugetlb size not a multiple of 2 MiB");
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.createGuest(CreateGuestRequest.newBuilder()
                .setSpec(smallGuest().setHotSetFraction(1.5)).build())));
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> stub.startMigration(StartMigrationRequest.newBuilder()
                .setGuestId("no-such-guest").setTargetAddress(targetName).build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.startMigration(StartMigrationRequest.newBuilder()
                .setGuestId(guest).build())), "no target address");
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.startMigration(StartMigrationRequest.newBuilder()
                .setGuestId(guest).setTargetAddress(targetName).setParameters(MigrationParameters.newBuilder()
                        .setMode(MigrationMode.MIGRATION_MODE_PRECOPY)
                        .setSwitchoverPolicy(SwitchoverPolicy.SWITCHOVER_POLICY_POSTCOPY)).build())),
                "post-copy policy needs hybrid mode");
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.startMigration(StartMigrationRequest.newBuilder()
                .setGuestId(guest).setTargetAddress(targetName).setParameters(MigrationParameters.newBuilder()
                        .setThrottleInitialPercent(100)).build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.runRound(RunRoundRequest.getDefaultInstance())));
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> stub.runRound(RunRoundRequest.newBuilder()
                .setMigrationId("mig-nope").build())));
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> stub.cancel(CancelRequest.newBuilder()
                .setMigrationId("mig-nope").build())));
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> stub.getInfo(GetInfoRequest.getDefaultInstance())),
                "no migration yet");
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> MigrationControlGrpc.newBlockingStub(client)
                .watch(WatchRequest.newBuilder().setMigrationId("mig-nope").build()).hasNext()));
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.setParameters(SetParametersRequest.newBuilder()
                .setUpdateMask(FieldMask.newBuilder().addPaths("no_such_field")).build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.measureDirtyRate(MeasureDirtyRateRequest
                .newBuilder().setGuestId(guest).setDurationMs(3_600_000).build())));
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> stub.measureDirtyRate(MeasureDirtyRateRequest.newBuilder()
                .setGuestId("no-such-guest").build())));
        // nothing changed: no migration exists, the target hosts nothing, the defaults are the engine's
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> stub.getInfo(GetInfoRequest.getDefaultInstance())));
        assertEquals(0, target.migrations().size());
        assertEquals(300, stub.setParameters(SetParametersRequest.getDefaultInstance()).getDowntimeLimitMs());
    }

    @Test
    void nodeDefaults_applyToLaterMigrations() {
        MigrationParameters d = stub.setParameters(SetParametersRequest.newBuilder()
                .setParameters(MigrationParameters.newBuilder().setMaxRounds(7).setBatchPages(64)).build());
        assertEquals(7, d.getMaxRounds());
        assertEquals(300, d.getDowntimeLimitMs(), "unset fields keep the engine default");
        String guest = createGuest().getGuestId();
        StartMigrationResponse r = stub.startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(targetName).setParameters(MigrationParameters.newBuilder().setMaxRounds(9)
                        .setManualRounds(true)).build());
        assertEquals(9, r.getParameters().getMaxRounds(), "the request's own value wins");
        assertEquals(64, r.getParameters().getBatchPages(), "the node default fills the rest");
    }

    @Test
    void reflection_listsTheControlService() throws Exception {
        java.util.concurrent.BlockingQueue<io.grpc.reflection.v1.ServerReflectionResponse> answers =
                new java.util.concurrent.LinkedBlockingQueue<>();
        var requests = io.grpc.reflection.v1.ServerReflectionGrpc.newStub(client).serverReflectionInfo(
                new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(io.grpc.reflection.v1.ServerReflectionResponse r) {
                        answers.add(r);
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        requests.onNext(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setListServices("").build());
        var answer = answers.poll(30, TimeUnit.SECONDS);
        requests.onCompleted();
        assertTrue(answer != null && answer.getListServicesResponse().getServiceList().stream()
                .anyMatch(s -> s.getName().equals(MigrationControlGrpc.SERVICE_NAME)), () -> "" + answer);
    }

    @Test
    void health_servesBothServiceNames() {
        HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(client);
        assertEquals(HealthCheckResponse.ServingStatus.SERVING,
                health.check(HealthCheckRequest.newBuilder().setService(MigrationControlGrpc.SERVICE_NAME).build())
                        .getStatus());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING,
                health.check(HealthCheckRequest.getDefaultInstance()).getStatus());
    }

    @Test
    void getGuest_echoesTheSpec_countsAccesses_andNamesTheLatestMigration() throws Exception {
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> stub.getGuest(GetGuestRequest.getDefaultInstance())));
        CreateGuestResponse created = createGuest();
        String guest = created.getGuestId();
        GuestInfo g = stub.getGuest(GetGuestRequest.getDefaultInstance());
        assertEquals(guest, g.getGuestId(), "no id: the most recently created guest");
        assertEquals(smallGuest().build(), g.getSpec());
        assertEquals(created.getRegionsList().size(), g.getRegionsCount());
        assertEquals(created.getSizeBytes(), g.getSizeBytes());
        assertTrue(g.getRunning());
        assertEquals("", g.getMigrationId());
        long before = g.getAccesses();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (stub.getGuest(GetGuestRequest.newBuilder().setGuestId(guest).build()).getAccesses() == before) {
            assertTrue(System.nanoTime() < deadline, "the vCPUs never accessed memory");
            Thread.sleep(20);
        }
        String id = stub.startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(targetName).build()).getMigrationId();
        stub.watch(WatchRequest.newBuilder().setMigrationId(id).build()).forEachRemaining(e -> { });
        GuestInfo after = stub.getGuest(GetGuestRequest.newBuilder().setGuestId(guest).build());
        assertEquals(id, after.getMigrationId());
        assertFalse(after.getRunning(), "after switchover the guest runs on the target");
        assertEquals(Status.Code.NOT_FOUND,
                codeOf(() -> stub.getGuest(GetGuestRequest.newBuilder().setGuestId("guest-none").build())));
    }

    @Test
    void stopGuest_isRefusedDuringAMigration_thenFreesTheGuestsMemory() {
        String guest = createGuest().getGuestId();
        String id = stub.startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(targetName).setParameters(MigrationParameters.newBuilder().setManualRounds(true))
                .build()).getMigrationId();
        StopGuestRequest stop = StopGuestRequest.newBuilder().setGuestId(guest).build();
        assertEquals(Status.Code.FAILED_PRECONDITION, codeOf(() -> stub.stopGuest(stop)));
        assertTrue(stub.getGuest(GetGuestRequest.newBuilder().setGuestId(guest).build()).getPopulatedPages() > 0);
        stub.cancel(CancelRequest.newBuilder().setMigrationId(id).build());
        long anon = stub.getGuest(GetGuestRequest.newBuilder().setGuestId(guest).build()).getRegions(0)
                .getPopulatedPages();
        long framesBefore = sourceKernel.physMem().allocatedPages();
        assertEquals(guest, stub.stopGuest(stop).getGuestId());
        assertTrue(sourceKernel.physMem().allocatedPages() <= framesBefore - anon,
                "the anonymous region's frames are freed (shmem's page cache may stay)");
        assertEquals(Status.Code.NOT_FOUND,
                codeOf(() -> stub.getGuest(GetGuestRequest.newBuilder().setGuestId(guest).build())));
        assertEquals(Status.Code.NOT_FOUND, codeOf(() -> stub.stopGuest(stop)));
        assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> stub.stopGuest(StopGuestRequest.getDefaultInstance())));
    }
}
