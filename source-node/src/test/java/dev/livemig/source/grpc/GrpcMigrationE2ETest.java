package dev.livemig.source.grpc;

import dev.livemig.migration.e2e.AbstractMigrationE2ETest;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.target.TargetNode;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The end-to-end suite over gRPC: the source engine talks to a {@link TargetNode}'s
 * PageTransfer service through {@link GrpcPageChannel}, every message encoded to protobuf
 * and back, over grpc-java's in-process transport (real calls, streams, flow control and
 * cancellation; no sockets).
 */
class GrpcMigrationE2ETest extends AbstractMigrationE2ETest {
    @Override
    protected PageChannel connect(IncomingMigration target) {
        String name = InProcessServerBuilder.generateName();
        TargetNode node;
        try {
            node = new TargetNode(InProcessServerBuilder.forName(name), () -> target).start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
        return new GrpcPageChannel(channel, () -> {
            channel.shutdownNow();
            node.close();
        });
    }
}
