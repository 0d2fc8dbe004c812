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
import java.util.List;

/**
 * The end-to-end suite over gRPC with the page stream split over three multifd channels
 * (three PushPages calls on three connections, {@link MultifdPush} on the source and a
 * {@code MultifdGroup} on the target): every migration must still end with every page
 * verified, though batches now overtake each other between channels.
 */
class GrpcMultifdMigrationE2ETest extends AbstractMigrationE2ETest {
    @Override
    protected PageChannel connect(IncomingMigration target) {
        String name = InProcessServerBuilder.generateName();
        TargetNode node;
        try {
            node = new TargetNode(InProcessServerBuilder.forName(name), () -> target).start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<ManagedChannel> push = List.of(InProcessChannelBuilder.forName(name).build(),
                InProcessChannelBuilder.forName(name).build(), InProcessChannelBuilder.forName(name).build());
        ManagedChannel control = InProcessChannelBuilder.forName(name).build();
        return new GrpcPageChannel(control, control, push, () -> {
            push.forEach(ManagedChannel::shutdownNow);
            control.shutdownNow();
            node.close();
        });
    }
}
