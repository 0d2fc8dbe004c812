package dev.livemig.migctl;

import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.mm.Kernel;
import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.WatchRequest;
import dev.livemig.source.SourceNode;
import dev.livemig.target.TargetNode;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * The real nodes in this JVM: a {@link TargetNode} and a {@link SourceNode}, each on its own
 * simulated kernel behind an in-process gRPC server; the source reaches the target whatever
 * target address it is given. migctl reaches them through {@link #channels()}.
 */
public final class LocalNodes implements AutoCloseable {
    private static final long TIMEOUT_S = 120;

    private final Kernel sourceKernel = new Kernel(new Kernel.Config().softDirty(true));
    private final Kernel targetKernel = new Kernel(new Kernel.Config().softDirty(true));
    private final String sourceName = InProcessServerBuilder.generateName();
    private final String targetName = InProcessServerBuilder.generateName();
    private final TargetNode target;
    private final SourceNode source;

    public LocalNodes() throws IOException {
        target = new TargetNode(InProcessServerBuilder.forName(targetName),
                () -> new IncomingMigration(targetKernel)).start();
        source = new SourceNode(InProcessServerBuilder.forName(sourceName), sourceKernel,
                address -> InProcessChannelBuilder.forName(targetName).build()).start();
    }

    public SourceNode source() {
        return source;
    }

    /** migctl's transport to these nodes: --target addresses reach the target, any other the source. */
    public ChannelFactory channels(HostPort targetAddress) {
        return a -> InProcessChannelBuilder.forName(a.equals(targetAddress) ? targetName : sourceName).build();
    }

    public ChannelFactory channels() {
        return channels(null);
    }

    /** Creates a guest, migrates it to the target and returns the source's GetInfo once it ended. */
    public MigrationInfo migrate(GuestSpec spec, MigrationParameters parameters, String targetAddress) {
        ManagedChannel c = InProcessChannelBuilder.forName(sourceName).build();
        try {
            var stub = MigrationControlGrpc.newBlockingStub(c).withDeadlineAfter(TIMEOUT_S, TimeUnit.SECONDS);
            String guest = stub.createGuest(CreateGuestRequest.newBuilder().setSpec(spec).build()).getGuestId();
            String id = stub.startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                    .setTargetAddress(targetAddress).setParameters(parameters).build()).getMigrationId();
            stub.watch(WatchRequest.newBuilder().setMigrationId(id).build()).forEachRemaining(e -> { });
            MigrationInfo info = stub.getInfo(GetInfoRequest.newBuilder().setMigrationId(id).build());
            if (info.getState() != MigrationState.MIGRATION_STATE_COMPLETED) {
                throw new AssertionError("migration ended " + info.getState() + ": " + info.getError());
            }
            return info;
        } finally {
            c.shutdownNow();
        }
    }

    @Override
    public void close() {
        source.close();
        target.close();
        target.migrations().close();
        sourceKernel.close();
        targetKernel.close();
    }
}
