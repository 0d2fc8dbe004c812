package dev.livemig.source.grpc;

import dev.livemig.migration.e2e.AbstractMigrationFaultsTest;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.target.TargetNode;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.IdentityHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;

/**
 * The fault suite over gRPC: {@link dev.livemig.migration.transport.FaultInjectingPageChannel}
 * wraps a {@link GrpcPageChannel} to a {@link TargetNode} (in-process transport), so every
 * injected disconnect cancels real gRPC calls on both ends, and every corrupted, duplicated
 * or reordered batch goes through the protobuf codec and the PageTransfer service. One node
 * per target: a second connection (post-copy recovery) is a new channel to the same node.
 */
class GrpcMigrationFaultsTest extends AbstractMigrationFaultsTest {
    private final Map<IncomingMigration, String> nodes = new IdentityHashMap<>();
    private final Map<String, TargetNode> running = new java.util.HashMap<>();

    @Override
    protected PageChannel connect(IncomingMigration target) {
        String name = nodes.computeIfAbsent(target, t -> {
            String n = InProcessServerBuilder.generateName();
            try {
                running.put(n, new TargetNode(InProcessServerBuilder.forName(n), () -> t).start());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return n;
        });
        ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
        return new GrpcPageChannel(channel, channel::shutdownNow);
    }

    @AfterEach
    @Override
    protected void tearDown() throws Exception {
        super.tearDown();
        for (TargetNode n : running.values()) {
            n.close();
        }
    }
}
