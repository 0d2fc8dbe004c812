package dev.livemig.source.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.MigrationStats;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.mm.Kernel;
import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.RegionKind;
import dev.livemig.proto.v1.RegionSpec;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.Workload;
import dev.livemig.source.SourceNode;
import dev.livemig.target.TargetNode;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Load and soak through one pair of nodes (a source node and a target node, gRPC
 * in-process): {@code livemig.soak.migrations} migrations (20 by default; 50 with
 * {@code -Dlivemig.soak.migrations=50}) of running guests, pre-copy and post-copy in turn,
 * then several guests at once. Every migration verifies, and afterwards the engine's
 * threads, the process's file descriptors, both kernels' frames, off-heap bytes, address
 * spaces and free huge pages are back where they started.
 *
 * <p>One way, into a target node (which only receives): each migration takes a fresh guest
 * from the source node to the same target node, and each guest, migrated, is released on
 * both sides (the source copy by the source node itself at COMPLETED, the target copy as a
 * guest that is stopped). Back and forth between two source nodes: {@code BackAndForthSoakIT}.
 */
class MigrationSoakIT {
    private static final long MIB = 1 << 20;
    private static final int MIGRATIONS = Integer.getInteger("livemig.soak.migrations", 20);
    private static final List<String> ENGINE_THREADS = List.of("vcpu-", "migration-", "postcopy-", "progress-",
            "reconnect-wait-", "inmem-");

    private Kernel sourceKernel;
    private Kernel targetKernel;
    private TargetNode target;
    private SourceNode source;
    private ManagedChannel client;
    private MigrationControlGrpc.MigrationControlBlockingStub stub;
    private String targetName;

    @BeforeEach
    void nodes() throws Exception {
        sourceKernel = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(32));
        targetKernel = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(32));
        targetName = InProcessServerBuilder.generateName();
        target = new TargetNode(InProcessServerBuilder.forName(targetName),
                () -> new IncomingMigration(targetKernel)).start();
        String sourceName = InProcessServerBuilder.generateName();
        source = new SourceNode(InProcessServerBuilder.forName(sourceName), sourceKernel,
                name -> InProcessChannelBuilder.forName(name).build()).start();
        client = InProcessChannelBuilder.forName(sourceName).build();
        stub = MigrationControlGrpc.newBlockingStub(client);
    }

    @AfterEach
    void close() {
        client.shutdownNow();
        source.close();
        target.close();
        target.migrations().close();
        sourceKernel.close();
        targetKernel.close();
    }

    /** What must come back: counted, not timed. */
    private record Levels(long engineThreads, long fds, long sourceFrames, long targetFrames, long sourceOffHeap,
                          long targetOffHeap, int sourceMms, int targetMms, int sourceFreeHuge, int targetFreeHuge) {
    }

    private Levels levels() {
        long threads = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && ENGINE_THREADS.stream().anyMatch(p -> t.getName().startsWith(p))).count();
        String[] fds = new File("/proc/self/fd").list();
        return new Levels(threads, fds == null ? -1 : fds.length,
                sourceKernel.physMem().allocatedPages(), targetKernel.physMem().allocatedPages(),
                sourceKernel.physMem().reservedBytes(), targetKernel.physMem().reservedBytes(),
                sourceKernel.liveMms().size(), targetKernel.liveMms().size(),
                sourceKernel.hugetlbPool().free(), targetKernel.hugetlbPool().free());
    }

    /**
     * Starting levels that hold still: two readings 200 ms apart agree. A reading taken while
     * a connection of the warm-up was still closing counted its fd, and the soak then "ended
     * below its start" (regression: fds 57 before, 56 after).
     */
    private Levels steadyLevels() throws InterruptedException {
        Levels prev = levels();
        for (int i = 0; i < 100; i++) {
            Thread.sleep(200);
            Levels now = levels();
            if (now.equals(prev)) {
                return now;
            }
            prev = now;
        }
        return prev;
    }

    /** The levels once threads that are ending have ended (each polled until it matches, up to 30 s). */
    private Levels settledLevels(Levels expected) throws InterruptedException {
        Levels now = levels();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!now.equals(expected) && System.nanoTime() < deadline) {
            Thread.sleep(50);
            now = levels();
        }
        return now;
    }

    private String createGuest(int seed) {
        return stub.withDeadlineAfter(60, TimeUnit.SECONDS).createGuest(CreateGuestRequest.newBuilder()
                .setSpec(GuestSpec.newBuilder()
                        .addRegions(RegionSpec.newBuilder().setName("anon").setKind(RegionKind.REGION_KIND_ANON)
                                .setSizeBytes(4 * MIB).setPopulatedFraction(0.75).setZeroPageFraction(0.25))
                        .addRegions(RegionSpec.newBuilder().setName("shmem").setKind(RegionKind.REGION_KIND_SHMEM)
                                .setSizeBytes(2 * MIB))
                        .addRegions(RegionSpec.newBuilder().setName("hugetlb")
                                .setKind(RegionKind.REGION_KIND_HUGETLB).setSizeBytes(4 * MIB))
                        .setWorkload(Workload.WORKLOAD_HOTSET).setWriteRatePagesPerS(4000).setVcpuCount(2)
                        .setSeed(seed)).build()).getGuestId();
    }

    private OutgoingMigration start(String guestId, MigrationMode mode) {
        String id = stub.withDeadlineAfter(60, TimeUnit.SECONDS).startMigration(StartMigrationRequest.newBuilder()
                .setGuestId(guestId).setTargetAddress(targetName).setParameters(MigrationParameters.newBuilder()
                        .setMode(mode).setVerifyPages(true).setBandwidthLimitBytesPerS(256 * MIB)).build())
                .getMigrationId();
        return source.migration(id);
    }

    /** Waits, checks the proof, and releases the guest on both nodes. */
    private void finishAndRelease(OutgoingMigration m, String guestId) throws InterruptedException {
        assertEquals(MigrationState.COMPLETED, m.awaitFinal(120_000), m::error);
        MigrationStats st = m.stats();
        IncomingMigration in = target.migrations().get(m.id());
        assertEquals(0, st.verifyMismatchPages(), st::toString);
        assertEquals(in.guest().layout().pages(), st.verifiedPages(), st::toString);
        assertEquals(0, st.trackerFalseNegativePages(), st::toString);
        assertNull(in.guest().vcpuError());
        source.guest(guestId).release();
        in.close();
        target.migrations().drop(m.id(), in);
    }

    private void migrateOnce(int i) throws InterruptedException {
        String g = createGuest(100 + i);
        finishAndRelease(start(g, i % 2 == 0 ? MigrationMode.MIGRATION_MODE_PRECOPY
                : MigrationMode.MIGRATION_MODE_POSTCOPY), g);
    }

    @Test
    void manyMigrations_everyOneVerifies_andResourcesReturnToTheirStartingLevels() throws Exception {
        migrateOnce(-1); // warm-up: gRPC's executors and classes, loaded once
        Levels before = steadyLevels();
        for (int i = 0; i < MIGRATIONS; i++) {
            migrateOnce(i);
        }
        Levels after = settledLevels(before);
        System.out.println("soak: " + MIGRATIONS + " migrations, levels before " + before + ", after " + after);
        assertEquals(before, after);
    }

    /** Four guests migrating at once, two pre-copy and two post-copy, each released once verified. */
    private void wave(int seed) throws InterruptedException {
        List<String> guests = new ArrayList<>();
        List<OutgoingMigration> ms = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            String g = createGuest(seed + i);
            guests.add(g);
            ms.add(start(g, i % 2 == 0 ? MigrationMode.MIGRATION_MODE_PRECOPY : MigrationMode.MIGRATION_MODE_POSTCOPY));
        }
        for (int i = 0; i < ms.size(); i++) {
            finishAndRelease(ms.get(i), guests.get(i));
        }
    }

    /**
     * The frame arena (off-heap) grows in chunks to the peak of four guests at once and
     * keeps them for reuse, so the levels are taken after a first wave: later waves must
     * not need a byte more.
     */
    @Test
    void severalGuestsAtOnce_throughOnePairOfNodes_allVerify() throws Exception {
        wave(200);
        Levels before = steadyLevels();
        for (int w = 1; w <= 3; w++) {
            wave(200 + 10 * w);
        }
        assertEquals(0, target.migrations().size());
        Levels after = settledLevels(before);
        System.out.println("concurrent: 3 waves of 4, levels before " + before + ", after " + after);
        assertEquals(before, after);
    }
}
