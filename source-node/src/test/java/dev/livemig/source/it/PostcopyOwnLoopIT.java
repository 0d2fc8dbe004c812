package dev.livemig.source.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.mm.Kernel;
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
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.Workload;
import dev.livemig.source.SourceNode;
import dev.livemig.source.grpc.OwnLoopChannel;
import dev.livemig.target.TargetNode;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The post-copy priority stream runs on event loops of its own on both nodes: the target
 * serves it on its post-copy listener (another port, announced in the handshake, whose one
 * loop thread reads every page request and installs every answer), and the source dials it
 * on a one-thread loop of the channel's own, which ends with the migration. A source node
 * in this JVM, a target node in this JVM over Netty on loopback, so that both can be looked at.
 */
class PostcopyOwnLoopIT {
    private static final long MIB = 1 << 20;

    private Kernel sourceKernel;
    private Kernel targetKernel;
    private SourceNode source;
    private TargetNode target;
    private ManagedChannel client;

    @AfterEach
    void close() throws Exception {
        if (client != null) {
            client.shutdownNow();
        }
        if (source != null) {
            source.close();
        }
        if (target != null) {
            target.close();
            target.migrations().close();
        }
        if (targetKernel != null) {
            targetKernel.close();
        }
        if (sourceKernel != null) {
            sourceKernel.close();
        }
    }

    /** Per method: the local ports its calls came in on, and the threads that took their messages. */
    private static final class Seen implements ServerInterceptor {
        final Map<String, Set<Integer>> ports = new ConcurrentHashMap<>();
        final Map<String, Set<String>> threads = new ConcurrentHashMap<>();

        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                          ServerCallHandler<Q, R> next) {
            String method = call.getMethodDescriptor().getBareMethodName();
            InetSocketAddress local = (InetSocketAddress) call.getAttributes().get(Grpc.TRANSPORT_ATTR_LOCAL_ADDR);
            ports.computeIfAbsent(method, k -> ConcurrentHashMap.newKeySet()).add(local.getPort());
            Set<String> on = threads.computeIfAbsent(method, k -> ConcurrentHashMap.newKeySet());
            return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
                @Override
                public void onMessage(Q message) {
                    on.add(Thread.currentThread().getName());
                    super.onMessage(message);
                }
            };
        }
    }

    private static boolean ownLoopThreadAlive() {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.isAlive() && t.getName().startsWith(OwnLoopChannel.LOOP_THREAD));
    }

    private static void waitUntil(BooleanSupplier cond, String what, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out: " + what);
            }
            Thread.sleep(5);
        }
    }

    @Test
    void thePostcopyCallRunsOnALoopOfItsOwnOnEachNode_andTheSourcesLoopEndsWithTheMigration() throws Exception {
        targetKernel = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(16));
        Seen main = new Seen();
        Seen listener = new Seen();
        // as TargetNodeMain builds it, plus the interceptors that look
        target = new TargetNode(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .flowControlWindow(TargetNode.PUSH_FLOW_CONTROL_WINDOW_BYTES).callExecutor(TargetNode::callExecutor)
                .intercept(main), () -> new IncomingMigration(targetKernel))
                .withPostcopyListener("127.0.0.1", listener).start();
        assertTrue(target.postcopyPort() > 0 && target.postcopyPort() != target.port());

        sourceKernel = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(16));
        String name = InProcessServerBuilder.generateName();
        source = new SourceNode(InProcessServerBuilder.forName(name), sourceKernel, SourceNode::dialOverNetty,
                SourceNode::dialOnOwnLoop).start();
        client = InProcessChannelBuilder.forName(name).build();
        MigrationControlGrpc.MigrationControlBlockingStub stub = MigrationControlGrpc.newBlockingStub(client)
                .withDeadlineAfter(60, TimeUnit.SECONDS);
        assertFalse(ownLoopThreadAlive(), "no priority loop before a migration");

        String guest = stub.createGuest(CreateGuestRequest.newBuilder().setSpec(GuestSpec.newBuilder()
                .addRegions(RegionSpec.newBuilder().setName("anon").setKind(RegionKind.REGION_KIND_ANON)
                        .setSizeBytes(16 * MIB).setPopulatedFraction(1.0))
                .setWorkload(Workload.WORKLOAD_UNIFORM).setWriteRatePagesPerS(20_000).setVcpuCount(2).setSeed(7))
                .build()).getGuestId();
        // a slow push, so that the vCPUs fault for most pages
        String id = stub.startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress("127.0.0.1:" + target.port()).setParameters(MigrationParameters.newBuilder()
                        .setMode(MigrationMode.MIGRATION_MODE_POSTCOPY).setBandwidthLimitBytesPerS(8 * MIB)
                        .setVerifyPages(true)).build()).getMigrationId();
        OutgoingMigration m = source.migration(id);
        waitUntil(() -> m.state() == MigrationControl.MigrationState.POSTCOPY_ACTIVE || m.state().isFinal(),
                "post-copy starts", 60);
        assertTrue(ownLoopThreadAlive(), "the source's priority connection has its loop thread");
        waitUntil(() -> m.state().isFinal(), "migration ends", 120);

        MigrationInfo info = stub.getInfo(GetInfoRequest.newBuilder().setMigrationId(id).build());
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState(), info::toString);
        assertEquals(0, info.getStats().getVerifyMismatchPages());
        assertTrue(info.getStats().getPostcopyFaultLatency().getCount() > 0, "the vCPUs faulted: " + info.getStats());
        // the split of the round trips answered on the priority stream: one entry per answer, in each part
        long answered = info.getStats().getPostcopyInstallLatency().getCount();
        assertTrue(answered > 0 && answered <= info.getStats().getPostcopyFaultLatency().getCount(), info::toString);
        assertEquals(answered, info.getStats().getPostcopyNetworkLatency().getCount());
        assertEquals(answered, info.getStats().getPostcopySourceHoldLatency().getCount());
        assertTrue(info.getStats().getPostcopySourceHoldLatency().getMaxUs()
                <= info.getStats().getPostcopyFaultLatency().getMaxUs(), "a part is not longer than a whole");

        // the target: the Postcopy call came in on the listener only, its messages read by the listener's loop
        assertEquals(Set.of(target.postcopyPort()), listener.ports.get("Postcopy"), () -> "listener " + listener.ports);
        assertFalse(main.ports.containsKey("Postcopy"), () -> "main port " + main.ports);
        assertEquals(Set.of(target.port()), main.ports.get("PushPages"));
        Set<String> postcopyThreads = listener.threads.get("Postcopy");
        assertFalse(postcopyThreads.isEmpty());
        assertTrue(postcopyThreads.stream().allMatch(t -> t.startsWith(TargetNode.POSTCOPY_LOOP_THREAD)),
                () -> "Postcopy messages taken on " + postcopyThreads);
        assertEquals(Set.of("Postcopy"), listener.ports.keySet(), "the listener serves nothing else");

        // the source: its priority loop ended with the migration's connections
        waitUntil(() -> !ownLoopThreadAlive(), "the source's priority loop ends", 30);
    }
}
