package dev.livemig.source.grpc;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.e2e.AbstractMigrationE2ETest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.GuestSpec.Workload;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.BatchBuffers;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.source.SourceNode;
import dev.livemig.target.TargetNode;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Page arrays are reused on both nodes ({@link BatchBuffers}) once gRPC has copied a batch
 * out (source) or the engine has placed it (target), over loopback sockets with the
 * servers and channels set up as the nodes' mains do and two multifd channels; and the
 * guest still arrives page for page. A regression test for the GC pauses of 2026-12-07:
 * each 1 MiB batch was a fresh humongous array on both nodes, and G1 stopped them for
 * 2–10 ms every 0.2–0.4 s.
 */
class BatchBufferReuseTest {
    private static final long MIB = 1 << 20;

    /** The end-to-end fixture over Netty; only the test below runs (the suite runs in-process elsewhere). */
    static final class OverLoopback extends AbstractMigrationE2ETest {
        @Override
        protected PageChannel connect(IncomingMigration target) {
            TargetNode node;
            try {
                node = new TargetNode(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                        .flowControlWindow(TargetNode.PUSH_FLOW_CONTROL_WINDOW_BYTES)
                        .callExecutor(TargetNode::callExecutor), () -> target).start();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            String address = "127.0.0.1:" + node.port();
            List<ManagedChannel> push = List.of(SourceNode.dialOverNetty(address), SourceNode.dialOverNetty(address));
            ManagedChannel control = push.get(0);
            return new GrpcPageChannel(control, control, push, () -> {
                push.forEach(ManagedChannel::shutdownNow);
                node.close();
            });
        }

        void migrateIdle64Mib() throws InterruptedException {
            kernels();
            try {
                migrateIdle64MibOnce();
            } finally {
                tearDown();
            }
        }

        private void migrateIdle64MibOnce() throws InterruptedException {
            GuestSpec spec = GuestSpec.builder()
                    .region(new RegionSpec("anon", RegionKind.ANON, 64 * MIB, 1.0, 0.0))
                    .vcpuCount(1).seed(7).workload(Workload.IDLE).build();
            assertMigratedFaithfullyIdle(migrate(spec,
                    MigrationParameters.of(MigrationMode.PRECOPY).withVerifyPages(true)));
        }
    }

    @Test
    void mostBatchesReuseAnArrayGivenBack_onBothSides() throws Exception {
        long[] send0 = BatchBuffers.SEND.counts();
        long[] receive0 = BatchBuffers.RECEIVE.counts();
        new OverLoopback().migrateIdle64Mib();
        long sendTaken = BatchBuffers.SEND.counts()[0] - send0[0];
        long sendReused = BatchBuffers.SEND.counts()[1] - send0[1];
        long receiveTaken = BatchBuffers.RECEIVE.counts()[0] - receive0[0];
        long receiveReused = BatchBuffers.RECEIVE.counts()[1] - receive0[1];
        // 64 batches of 256 pages at least; each side allocates a few arrays per channel
        // before the first ones come back, and none after
        assertTrue(sendTaken >= 64, "source batches " + sendTaken);
        assertTrue(sendReused >= sendTaken - 16, "source reused " + sendReused + " of " + sendTaken);
        assertTrue(receiveTaken >= 64, "target batches " + receiveTaken);
        assertTrue(receiveReused >= receiveTaken - 16, "target reused " + receiveReused + " of " + receiveTaken);
    }
}
