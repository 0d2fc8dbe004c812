package dev.livemig.source.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.stats.PageChecksums;
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
import dev.livemig.proto.v1.MigrationStats;
import dev.livemig.proto.v1.PageTransferGrpc;
import dev.livemig.proto.v1.ReceivedBitmapRequest;
import dev.livemig.proto.v1.ReceivedBitmapResponse;
import dev.livemig.proto.v1.RegionBitmap;
import dev.livemig.proto.v1.RegionKind;
import dev.livemig.proto.v1.RegionSpec;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.Workload;
import dev.livemig.source.SourceNode;
import dev.livemig.target.TargetNode;
import dev.livemig.target.TargetNodeMain;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.InsecureServerCredentials;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Faults at the level of nodes and real connections: a source node in this JVM (so the
 * test can read its guest's memory) dialing targets over Netty on loopback.
 *
 * <ul>
 * <li>The target-node JVM is killed (SIGKILL) during pre-copy: the migration fails, the
 *     source guest runs on with every page as before, and a migration to a fresh target
 *     process completes and verifies.</li>
 * <li>The TCP connection is cut during post-copy (a relay in between resets it and refuses
 *     new ones for a while): both sides pause, the source node dials again until it gets
 *     through, and the migration completes and verifies.</li>
 * <li>The source dies during post-copy: the target says, in its error, its log and its
 *     ReceivedBitmap answer, how many pages of each region it never got.</li>
 * </ul>
 */
class NodeFaultsIT {
    private static final long MIB = 1 << 20;

    private final List<NodeProcess> processes = new ArrayList<>();
    private final List<AutoCloseable> closeLater = new ArrayList<>();
    private Kernel sourceKernel;
    private SourceNode source;
    private ManagedChannel client;
    private MigrationControlGrpc.MigrationControlBlockingStub stub;
    private boolean sourceClosed;

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
        if (!sourceClosed) {
            source.close();
        }
        for (int i = closeLater.size() - 1; i >= 0; i--) {
            closeLater.get(i).close();
        }
        for (NodeProcess p : processes) {
            p.close();
        }
        sourceKernel.close();
    }

    // ---- nodes and guests ------------------------------------------------------------------

    /** A target-node JVM; returns its port. */
    private int launchTargetProcess(String name) throws Exception {
        NodeProcess p = NodeProcess.start(TargetNodeMain.class, name, 512);
        processes.add(p);
        return p.port;
    }

    /** A target node in this JVM over Netty, so the test can look at its incoming migrations. */
    private TargetNode targetInThisJvm() throws Exception {
        return targetInThisJvm(new ConcurrentHashMap<>());
    }

    /** As above; {@code peers} gets the peer address of each call, by method name, the latest kept. */
    private TargetNode targetInThisJvm(Map<String, SocketAddress> peers) throws Exception {
        Kernel k = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(16));
        closeLater.add(k);
        ServerInterceptor peer = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                              ServerCallHandler<Q, R> next) {
                SocketAddress a = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
                if (a != null) {
                    peers.put(call.getMethodDescriptor().getBareMethodName(), a);
                }
                return next.startCall(call, headers);
            }
        };
        TargetNode node = new TargetNode(Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
                .intercept(peer), () -> new IncomingMigration(k)).start();
        closeLater.add(node.migrations());
        closeLater.add(node);
        return node;
    }

    private String createGuest(Workload w, long writeRate) {
        return stub.withDeadlineAfter(60, TimeUnit.SECONDS).createGuest(CreateGuestRequest.newBuilder()
                .setSpec(GuestSpec.newBuilder()
                        .addRegions(RegionSpec.newBuilder().setName("anon").setKind(RegionKind.REGION_KIND_ANON)
                                .setSizeBytes(16 * MIB).setPopulatedFraction(0.75).setZeroPageFraction(0.25))
                        .addRegions(RegionSpec.newBuilder().setName("shmem").setKind(RegionKind.REGION_KIND_SHMEM)
                                .setSizeBytes(4 * MIB))
                        .addRegions(RegionSpec.newBuilder().setName("hugetlb")
                                .setKind(RegionKind.REGION_KIND_HUGETLB).setSizeBytes(4 * MIB))
                        .setWorkload(w).setReadFraction(w == Workload.WORKLOAD_READ_MOSTLY ? 1.0 : 0)
                        .setWriteRatePagesPerS(writeRate).setVcpuCount(2).setSeed(3)).build()).getGuestId();
    }

    private String migrate(String guest, String address, MigrationParameters.Builder p) {
        return stub.withDeadlineAfter(60, TimeUnit.SECONDS).startMigration(StartMigrationRequest.newBuilder()
                .setGuestId(guest).setTargetAddress(address).setParameters(p.setVerifyPages(true)).build())
                .getMigrationId();
    }

    private MigrationInfo info(String id) {
        return stub.withDeadlineAfter(30, TimeUnit.SECONDS).getInfo(GetInfoRequest.newBuilder().setMigrationId(id)
                .build());
    }

    private MigrationInfo awaitFinal(String id) throws InterruptedException {
        waitUntil(() -> source.migration(id).state().isFinal(), "migration " + id + " ends", 120);
        return info(id);
    }

    private static void waitUntil(BooleanSupplier cond, String what, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out: " + what);
            }
            Thread.sleep(10);
        }
    }

    private static long[] checksums(Guest g) {
        return PageChecksums.of(g.mm(), g.layout()).stream().flatMapToInt(r -> java.util.Arrays.stream(r.crc32c()))
                .asLongStream().toArray();
    }

    private static void assertVerified(MigrationInfo info, long pages) {
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState(), info::toString);
        MigrationStats st = info.getStats();
        assertEquals(0, st.getVerifyMismatchPages(), st::toString);
        assertEquals(pages, st.getVerifiedPages(), st::toString);
    }

    // ---- the target process dies ------------------------------------------------------------

    @Test
    void targetProcessKilledDuringPrecopy_failsAndTheSourceRunsOn_thenAFreshTargetProcessVerifies() throws Exception {
        String guestId = createGuest(Workload.WORKLOAD_READ_MOSTLY, 4000);
        Guest guest = source.guest(guestId);
        long[] before = checksums(guest);
        int doomedPort = launchTargetProcess("doomed-target");
        String id = migrate(guestId, "127.0.0.1:" + doomedPort, MigrationParameters.newBuilder()
                .setMode(MigrationMode.MIGRATION_MODE_PRECOPY).setBandwidthLimitBytesPerS(4 * MIB));
        OutgoingMigration m = source.migration(id);
        waitUntil(() -> m.stats().bytesSent() > 2 * MIB, "pre-copy under way", 60);
        Process doomed = processes.get(processes.size() - 1).process;
        doomed.destroyForcibly(); // SIGKILL: no goodbye on any stream
        assertTrue(doomed.waitFor(10, TimeUnit.SECONDS));

        MigrationInfo failed = awaitFinal(id);
        assertEquals(MigrationState.MIGRATION_STATE_FAILED, failed.getState(), failed::toString);
        assertFalse(failed.getError().isEmpty());
        assertTrue(failed.getRoundsCount() == 0, "failed during round 0: " + failed.getRoundsList());

        // the source guest runs on, untracked, every page as it was
        assertTrue(guest.isRunning(), "the source guest runs after the failure");
        long done = guest.accessesDone();
        waitUntil(() -> guest.accessesDone() > done + 20, "the source guest makes progress", 10);
        guest.pause();
        assertNull(guest.vcpuError());
        assertArrayEquals(before, checksums(guest), "source memory changed");
        guest.resume();

        int freshPort = launchTargetProcess("fresh-target");
        String again = migrate(guestId, "127.0.0.1:" + freshPort, MigrationParameters.newBuilder()
                .setMode(MigrationMode.MIGRATION_MODE_PRECOPY));
        assertVerified(awaitFinal(again), guest.layout().pages());
    }

    // ---- the connection breaks during post-copy ---------------------------------------------

    /** A post-copy to {@code node} through {@code proxy}, cut once the background push is under way. */
    private OutgoingMigration postcopyCutMidway(String guestId, TargetNode node, TcpProxy proxy) throws Exception {
        String id = migrate(guestId, "127.0.0.1:" + proxy.port(), MigrationParameters.newBuilder()
                .setMode(MigrationMode.MIGRATION_MODE_POSTCOPY).setBandwidthLimitBytesPerS(8 * MIB));
        OutgoingMigration m = source.migration(id);
        waitUntil(() -> m.state() == MigrationControl.MigrationState.POSTCOPY_ACTIVE
                && m.stats().bytesSent() > 2 * MIB, "post-copy under way", 60);
        proxy.cut();
        IncomingMigration in = node.migrations().get(id);
        waitUntil(() -> m.postcopyPaused() && in.postcopyPaused(), "both sides paused", 30);
        assertEquals(MigrationControl.MigrationState.POSTCOPY_ACTIVE, m.state(), "paused, not failed");
        assertEquals(IncomingMigration.State.RUNNING, in.state(), "the guest runs on the target");
        return m;
    }

    @Test
    void connectionCutDuringPostcopy_theSourceNodeReconnects_andTheMigrationVerifies() throws Exception {
        Map<String, SocketAddress> peers = new ConcurrentHashMap<>();
        TargetNode node = targetInThisJvm(peers);
        TcpProxy proxy = new TcpProxy(node.port());
        closeLater.add(proxy);
        String guestId = createGuest(Workload.WORKLOAD_UNIFORM, 20_000);
        OutgoingMigration m = postcopyCutMidway(guestId, node, proxy);
        IncomingMigration in = node.migrations().get(m.id());
        Thread.sleep(300); // the node's reconnect attempts are refused meanwhile
        assertTrue(m.postcopyPaused(), "still paused while the link is down");
        long accesses = in.guest().accessesDone();
        proxy.heal();

        MigrationInfo info = awaitFinal(m.id());
        assertVerified(info, in.guest().layout().pages());
        assertTrue(proxy.connections() >= 2, "a new connection after the cut: " + proxy.connections());
        // the recovered streams (the latest calls of each) came on two connections: the
        // priority stream has one of its own again, as before the cut
        assertNotEquals(peers.get("PushPages"), peers.get("Postcopy"),
                "the recovered priority stream shares the page stream's connection: " + peers);
        assertTrue(info.getStateChangesList().stream().anyMatch(c -> c.getReason().startsWith("paused:")));
        assertTrue(info.getStateChangesList().stream().anyMatch(c -> c.getReason().startsWith("recovered")));
        assertEquals(IncomingMigration.State.COMPLETED, in.state());
        waitUntil(() -> in.guest().accessesDone() > accesses, "the target guest makes progress", 10);
        assertNull(in.guest().vcpuError());
    }

    @Test
    void sourceDiesDuringPostcopy_theTargetReportsThePagesItNeverGotPerRegion() throws Exception {
        TargetNode node = targetInThisJvm();
        TcpProxy proxy = new TcpProxy(node.port());
        closeLater.add(proxy);
        String guestId = createGuest(Workload.WORKLOAD_UNIFORM, 20_000);
        OutgoingMigration m = postcopyCutMidway(guestId, node, proxy);
        sourceClosed = true;
        source.close(); // the source node goes away with the only other copy of the pages
        IncomingMigration in = node.migrations().get(m.id());
        // a batch still being placed when both streams broke may land yet: wait for the count to settle
        Map<String, Long> seen = in.missingPagesByRegion();
        while (true) {
            Thread.sleep(200);
            Map<String, Long> now = in.missingPagesByRegion();
            if (now.equals(seen)) {
                break;
            }
            seen = now;
        }

        // the error names the count per region ...
        Matcher said = Pattern.compile("(\\d+) pages never arrived \\(([^)]*)\\)").matcher(in.error());
        assertTrue(said.find(), in.error());
        Map<String, Long> perRegion = new LinkedHashMap<>();
        for (String part : said.group(2).split(", ")) {
            String[] nv = part.split(" ");
            perRegion.put(nv[0], Long.parseLong(nv[1]));
        }
        assertEquals(Long.parseLong(said.group(1)), perRegion.values().stream().mapToLong(Long::longValue).sum());
        assertTrue(Long.parseLong(said.group(1)) > 0);
        assertEquals(in.missingPagesByRegion(), perRegion);

        // ... and anyone can ask the target node which pages those are, over its PageTransfer service
        ManagedChannel direct = SourceNode.dialOverNetty("127.0.0.1:" + node.port());
        try {
            ReceivedBitmapResponse r = PageTransferGrpc.newBlockingStub(direct).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .receivedBitmap(ReceivedBitmapRequest.newBuilder().setMigrationId(m.id()).build());
            Map<String, Long> fromBitmap = new LinkedHashMap<>();
            for (RegionBitmap b : r.getRegionsList()) {
                long missing = b.getPageCount() - b.getReceivedPages();
                long unset = 0;
                for (int i = 0; i < b.getPageCount(); i++) {
                    if ((b.getReceived().byteAt(i >>> 3) & (1 << (i & 7))) == 0) {
                        unset++;
                    }
                }
                assertEquals(missing, unset, "the bitmap and its count agree in " + b.getRegionName());
                if (missing > 0) {
                    fromBitmap.put(b.getRegionName(), missing);
                }
            }
            assertEquals(perRegion, fromBitmap);
            assertEquals(Long.parseLong(said.group(1)), r.getMissingPages());
        } finally {
            direct.shutdownNow();
        }
        assertEquals(IncomingMigration.State.RUNNING, in.state(), "the target keeps the guest, waiting");
        assertTrue(in.postcopyPaused());
    }
}
