package dev.livemig.migctl;

import dev.livemig.migration.MigrationControl;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.InMemoryPageChannel;
import dev.livemig.mm.Kernel;
import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.CreateGuestResponse;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.ProgressEvent;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.StartMigrationResponse;
import dev.livemig.proto.v1.StateChange;
import dev.livemig.proto.v1.WatchRequest;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A test-only MigrationControl backed by the real engine in this JVM (source and target
 * kernels, {@link InMemoryPageChannel} between them), enough for `migctl migrate`:
 * CreateGuest, StartMigration, Watch (which waits for the end, then replays the records)
 * and GetInfo. The production service with live Watch streams is the source node's.
 */
final class EngineNode extends MigrationControlGrpc.MigrationControlImplBase implements AutoCloseable {
    private static final long TIMEOUT_MS = 120_000;

    private final Kernel sourceKernel = new Kernel(new Kernel.Config().softDirty(true));
    private final Kernel targetKernel = new Kernel(new Kernel.Config().softDirty(true));
    private Guest guest;
    private IncomingMigration target;
    private InMemoryPageChannel channel;
    private OutgoingMigration migration;

    @Override
    public synchronized void createGuest(CreateGuestRequest req, StreamObserver<CreateGuestResponse> out) {
        dev.livemig.proto.v1.GuestSpec s = req.getSpec();
        guest = Guest.create(sourceKernel, GuestSpec.builder().sizeBytes(s.getSizeBytes())
                .workload(GuestSpec.Workload.valueOf(s.getWorkload().name().substring("WORKLOAD_".length())))
                .writeRatePagesPerS(s.getWriteRatePagesPerS()).seed(s.getSeed()).vcpuCount(s.getVcpuCount())
                .hotSet(s.getHotSetFraction(), s.getHotSetWriteFraction()).build());
        guest.start();
        long populated = 0;
        for (boolean p : PageChecksums.presentPages(guest.mm(), guest.layout())) {
            populated += p ? 1 : 0;
        }
        out.onNext(CreateGuestResponse.newBuilder().setGuestId("g1").setSizeBytes(s.getSizeBytes())
                .setPopulatedPages(populated).build());
        out.onCompleted();
    }

    @Override
    public synchronized void startMigration(StartMigrationRequest req, StreamObserver<StartMigrationResponse> out) {
        MigrationParameters p = req.getParameters();
        MigrationControl.MigrationParameters params = MigrationControl.MigrationParameters
                .of(MigrationControl.MigrationMode.valueOf(p.getMode().name().substring("MIGRATION_MODE_".length())))
                .withDowntimeLimitMs(p.getDowntimeLimitMs()).withBandwidthLimitBytesPerS(p.getBandwidthLimitBytesPerS())
                .withMaxRounds(p.getMaxRounds()).withPostcopyAfterRounds(p.getPostcopyAfterRounds())
                .withVerifyPages(p.getVerifyPages()).withDefaults();
        target = new IncomingMigration(targetKernel);
        channel = new InMemoryPageChannel(target);
        migration = new OutgoingMigration("m1", req.getGuestId(), req.getTargetAddress(), guest, channel, params);
        migration.start();
        out.onNext(StartMigrationResponse.newBuilder().setMigrationId("m1")
                .setParameters(EngineRecords.parameters(migration.parameters())).build());
        out.onCompleted();
    }

    @Override
    public void watch(WatchRequest req, StreamObserver<ProgressEvent> out) {
        try {
            migration.awaitFinal(TIMEOUT_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            out.onError(Status.CANCELLED.asRuntimeException());
            return;
        }
        MigrationInfo info = EngineRecords.info(migration.info());
        List<ProgressEvent> events = new ArrayList<>();
        for (RoundRecord r : info.getRoundsList()) {
            events.add(ProgressEvent.newBuilder().setAtMs(r.getStartMs() + r.getDurationMs()).setRound(r).build());
        }
        for (StateChange c : info.getStateChangesList()) {
            events.add(ProgressEvent.newBuilder().setAtMs(c.getAtMs()).setStateChange(c).build());
        }
        events.sort(Comparator.comparingLong(ProgressEvent::getAtMs));
        events.forEach(out::onNext);
        out.onCompleted();
    }

    @Override
    public void getInfo(GetInfoRequest req, StreamObserver<MigrationInfo> out) {
        out.onNext(EngineRecords.info(migration.info()));
        out.onCompleted();
    }

    @Override
    public synchronized void close() {
        if (guest != null) {
            guest.close();
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
}
