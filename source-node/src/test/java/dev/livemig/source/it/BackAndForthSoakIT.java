package dev.livemig.source.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.GetGuestRequest;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.GetNodeStatsRequest;
import dev.livemig.proto.v1.GuestInfo;
import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.MigrationStats;
import dev.livemig.proto.v1.NodeStats;
import dev.livemig.proto.v1.RegionKind;
import dev.livemig.proto.v1.RegionSpec;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.Workload;
import dev.livemig.source.SourceNodeMain;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 5's soak: one guest with a running workload migrated back and forth between two
 * node processes (two source-node JVMs on loopback, each also receiving guests)
 * {@code livemig.soak.roundTrips} times there and back (25 by default: 50 migrations),
 * pre-copy and post-copy in turn in each direction. Every migration verifies (every page
 * compared, none differs; no tracker miss); after each one the node the guest left holds
 * none of its memory, and the guest runs, under its id, on the other. At the end the
 * guest is home again, and each node's engine threads, file descriptors, frames, off-heap
 * bytes, address spaces, free huge pages, guests and incoming migrations (GetNodeStats)
 * are where they were after a warm-up round trip.
 *
 * <p>The guest's regions are fully populated (no zero pages), so its writes never map a
 * new frame: the frames it holds are the same number on either node.
 */
class BackAndForthSoakIT {
    private static final long MIB = 1 << 20;
    private static final int ROUND_TRIPS = Integer.getInteger("livemig.soak.roundTrips", 25);

    private final Node a = new Node("a");
    private final Node b = new Node("b");

    /** One source-node process and a client of it. */
    private static final class Node {
        final String name;
        Process process;
        String address;
        ManagedChannel channel;
        MigrationControlGrpc.MigrationControlBlockingStub stub;

        Node(String name) {
            this.name = name;
        }

        void start() throws Exception {
            NodeProcess node = NodeProcess.start(SourceNodeMain.class, "soak-node-" + name, 384, "--hugepages", "8");
            process = node.process;
            address = node.address();
            channel = Grpc.newChannelBuilder(address, InsecureChannelCredentials.create()).build();
            stub = MigrationControlGrpc.newBlockingStub(channel);
        }

        MigrationControlGrpc.MigrationControlBlockingStub call() {
            return stub.withDeadlineAfter(60, TimeUnit.SECONDS);
        }

        NodeStats stats() {
            return call().getNodeStats(GetNodeStatsRequest.getDefaultInstance());
        }

        GuestInfo guest(String id) {
            return call().getGuest(GetGuestRequest.newBuilder().setGuestId(id).build());
        }

        void stop() throws InterruptedException {
            if (channel != null) {
                channel.shutdownNow();
            }
            if (process != null) {
                process.destroy();
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    @BeforeEach
    void startNodes() throws Exception {
        a.start();
        b.start();
    }

    @AfterEach
    void stopNodes() throws Exception {
        a.stop();
        b.stop();
    }

    private static String createGuest(Node on) {
        RegionSpec.Builder full = RegionSpec.newBuilder().setPopulatedFraction(1.0).setZeroPageFraction(0);
        return on.call().createGuest(CreateGuestRequest.newBuilder().setSpec(GuestSpec.newBuilder()
                .addRegions(full.clone().setName("anon").setKind(RegionKind.REGION_KIND_ANON).setSizeBytes(8 * MIB))
                .addRegions(full.clone().setName("shmem").setKind(RegionKind.REGION_KIND_SHMEM).setSizeBytes(2 * MIB))
                .addRegions(full.clone().setName("hugetlb").setKind(RegionKind.REGION_KIND_HUGETLB)
                        .setSizeBytes(4 * MIB))
                .setWorkload(Workload.WORKLOAD_HOTSET).setHotSetFraction(0.1).setHotSetWriteFraction(0.9)
                .setWriteRatePagesPerS(4000).setVcpuCount(2).setSeed(55)).build()).getGuestId();
    }

    /** Migrates {@code guest} from one node to the other and checks the proof and where the guest is now. */
    private static MigrationStats migrate(String guest, Node from, Node to, MigrationMode mode, long guestPages)
            throws InterruptedException {
        String id = from.call().startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(to.address).setParameters(MigrationParameters.newBuilder().setMode(mode)
                        .setVerifyPages(true).setBandwidthLimitBytesPerS(256 * MIB)).build()).getMigrationId();
        MigrationInfo info = from.call().getInfo(GetInfoRequest.newBuilder().setMigrationId(id).build());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!final_(info.getState()) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            info = from.call().getInfo(GetInfoRequest.newBuilder().setMigrationId(id).setOmitRounds(true).build());
        }
        String what = mode + " " + from.name + "->" + to.name + ": " + info;
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState(), what);
        MigrationStats st = info.getStats();
        assertEquals(guestPages, st.getVerifiedPages(), what);
        assertEquals(0, st.getVerifyMismatchPages(), what);
        assertEquals(0, st.getTrackerFalseNegativePages(), what);
        GuestInfo left = from.guest(guest);
        assertFalse(left.getRunning(), what);
        assertEquals(0, left.getPopulatedPages(), "the node the guest left freed its memory: " + left);
        assertEquals(id, left.getMigrationId());
        GuestInfo arrived = to.guest(guest);
        assertTrue(arrived.getRunning(), "the guest runs, under its id, where it went: " + arrived);
        return st;
    }

    private static boolean final_(MigrationState s) {
        return s == MigrationState.MIGRATION_STATE_COMPLETED || s == MigrationState.MIGRATION_STATE_FAILED
                || s == MigrationState.MIGRATION_STATE_CANCELLED;
    }

    /** Levels that hold still: two readings 200 ms apart agree (what was ending, a connection, a thread, has ended). */
    private static NodeStats steady(Node n) throws InterruptedException {
        NodeStats prev = n.stats();
        for (int i = 0; i < 100; i++) {
            Thread.sleep(200);
            NodeStats now = n.stats();
            if (now.equals(prev)) {
                return now;
            }
            prev = now;
        }
        return prev;
    }

    /** The node's levels once what is ending has ended (polled until they match, up to 30 s). */
    private static NodeStats settled(Node n, NodeStats expected) throws InterruptedException {
        NodeStats now = n.stats();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!now.equals(expected) && System.nanoTime() < deadline) {
            Thread.sleep(100);
            now = n.stats();
        }
        return now;
    }

    @Test
    void aGuestMigratesBackAndForth_everyMigrationVerifies_andBothNodesReturnToTheirLevels() throws Exception {
        String guest = createGuest(a);
        long pages = a.guest(guest).getRegionsList().stream()
                .mapToLong(r -> r.getSizeBytes() / r.getPageSizeBytes()).sum();
        List<MigrationMode> modes = List.of(MigrationMode.MIGRATION_MODE_PRECOPY, MigrationMode.MIGRATION_MODE_POSTCOPY);
        // warm-up round trip: gRPC's classes and pools, the frame arenas' peak
        migrate(guest, a, b, modes.get(0), pages);
        migrate(guest, b, a, modes.get(1), pages);
        NodeStats beforeA = steady(a);
        NodeStats beforeB = steady(b);
        long accesses = a.guest(guest).getAccesses();
        long t0 = System.nanoTime();
        int migrations = 0;
        long downtimeMs = 0;
        for (int i = 0; i < ROUND_TRIPS; i++) {
            MigrationMode there = modes.get(i % 2);
            MigrationMode back = modes.get((i + 1) % 2);
            downtimeMs += (long) migrate(guest, a, b, there, pages).getDowntimeTargetMs();
            downtimeMs += (long) migrate(guest, b, a, back, pages).getDowntimeTargetMs();
            migrations += 2;
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(a.guest(guest).getAccesses() > accesses, "the workload ran on through the migrations");
        NodeStats afterA = settled(a, beforeA);
        NodeStats afterB = settled(b, beforeB);
        System.out.printf("back-and-forth soak: %d migrations in %d ms (%.0f ms each, downtime %.1f ms each on "
                        + "average)%n  node a before %s  after %s%n  node b before %s  after %s%n", migrations, ms,
                (double) ms / migrations, (double) downtimeMs / migrations, oneLine(beforeA), oneLine(afterA),
                oneLine(beforeB), oneLine(afterB));
        assertEquals(2 * ROUND_TRIPS, migrations);
        assertEquals(beforeA, afterA, "node a");
        assertEquals(beforeB, afterB, "node b");
        assertEquals(1, afterA.getRunningGuests());
        assertEquals(0, afterB.getRunningGuests());
        assertEquals(0, afterB.getAllocatedFrames(), "node b holds nothing of the guest");
    }

    private static String oneLine(NodeStats s) {
        return s.toString().replace('\n', ' ');
    }
}
