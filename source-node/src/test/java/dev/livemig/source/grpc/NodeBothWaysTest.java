package dev.livemig.source.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.proc.Pagemap;
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
import dev.livemig.proto.v1.NodeStats;
import dev.livemig.proto.v1.RegionKind;
import dev.livemig.proto.v1.RegionSpec;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.StopGuestRequest;
import dev.livemig.proto.v1.Workload;
import dev.livemig.source.SourceNode;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two source nodes (gRPC in-process), each also a target: the node a guest left frees its
 * memory once the migration completed and still answers for it; a guest a node received
 * is its guest under the same id, hands its userfaultfd over when it migrates on, and goes
 * back with a working dirty tracker.
 */
class NodeBothWaysTest {
    private static final long MIB = 1 << 20;

    private Kernel kernelA;
    private Kernel kernelB;
    private SourceNode a;
    private SourceNode b;
    private String nameA;
    private String nameB;
    private ManagedChannel clientA;
    private ManagedChannel clientB;

    @BeforeEach
    void nodes() throws Exception {
        kernelA = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(8));
        kernelB = new Kernel(new Kernel.Config().softDirty(true).nrHugepages(8));
        nameA = InProcessServerBuilder.generateName();
        nameB = InProcessServerBuilder.generateName();
        a = new SourceNode(InProcessServerBuilder.forName(nameA), kernelA,
                n -> InProcessChannelBuilder.forName(n).build()).start();
        b = new SourceNode(InProcessServerBuilder.forName(nameB), kernelB,
                n -> InProcessChannelBuilder.forName(n).build()).start();
        clientA = InProcessChannelBuilder.forName(nameA).build();
        clientB = InProcessChannelBuilder.forName(nameB).build();
    }

    @AfterEach
    void close() {
        clientA.shutdownNow();
        clientB.shutdownNow();
        a.close();
        b.close();
        kernelA.close();
        kernelB.close();
    }

    private static MigrationControlGrpc.MigrationControlBlockingStub stub(ManagedChannel ch) {
        return MigrationControlGrpc.newBlockingStub(ch).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    private String createGuestOnA() {
        return stub(clientA).createGuest(CreateGuestRequest.newBuilder().setSpec(GuestSpec.newBuilder()
                .addRegions(RegionSpec.newBuilder().setName("anon").setKind(RegionKind.REGION_KIND_ANON)
                        .setSizeBytes(4 * MIB).setPopulatedFraction(0.75).setZeroPageFraction(0.25))
                .addRegions(RegionSpec.newBuilder().setName("shmem").setKind(RegionKind.REGION_KIND_SHMEM)
                        .setSizeBytes(2 * MIB))
                .addRegions(RegionSpec.newBuilder().setName("hugetlb").setKind(RegionKind.REGION_KIND_HUGETLB)
                        .setSizeBytes(2 * MIB))
                .setWorkload(Workload.WORKLOAD_HOTSET).setWriteRatePagesPerS(4000).setVcpuCount(2).setSeed(3))
                .build()).getGuestId();
    }

    private static OutgoingMigration migrate(SourceNode from, ManagedChannel client, String guest, String to,
                                             MigrationMode mode) throws InterruptedException {
        String id = stub(client).startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(to).setParameters(MigrationParameters.newBuilder().setMode(mode)
                        .setVerifyPages(true).setBandwidthLimitBytesPerS(128 * MIB)).build()).getMigrationId();
        OutgoingMigration m = from.migration(id);
        assertEquals(MigrationControl.MigrationState.COMPLETED, m.awaitFinal(60_000), m::error);
        assertEquals(0, m.stats().verifyMismatchPages());
        assertEquals(0, m.stats().trackerFalseNegativePages());
        assertTrue(m.stats().verifiedPages() > 0);
        return m;
    }

    @Test
    void afterCompleted_theSourceFreesTheGuestsMemory_andStillAnswersForIt() throws Exception {
        long framesBefore = kernelA.physMem().allocatedPages();
        String guest = createGuestOnA();
        Guest g = a.guest(guest);
        assertTrue(kernelA.physMem().allocatedPages() > framesBefore);
        OutgoingMigration m = migrate(a, clientA, guest, nameB, MigrationMode.MIGRATION_MODE_PRECOPY);
        assertTrue(g.isReleased(), "released at COMPLETED");
        assertEquals(framesBefore, kernelA.physMem().allocatedPages(), "every frame of the guest is free again");
        assertFalse(kernelA.liveMms().contains(g.mm()), "its address space is gone");
        GuestInfo info = stub(clientA).getGuest(GetGuestRequest.newBuilder().setGuestId(guest).build());
        assertFalse(info.getRunning());
        assertEquals(0, info.getPopulatedPages());
        assertEquals(m.id(), info.getMigrationId());
        MigrationInfo mi = stub(clientA).getInfo(GetInfoRequest.newBuilder().setMigrationId(m.id()).build());
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, mi.getState());
        assertEquals(m.stats().verifiedPages(), mi.getStats().getVerifiedPages(), "the statistics stay");
    }

    @Test
    void aReceivedGuest_isTheNodesGuest_handsItsUserfaultfdOver_andMigratesBack() throws Exception {
        String guest = createGuestOnA();
        OutgoingMigration there = migrate(a, clientA, guest, nameB, MigrationMode.MIGRATION_MODE_POSTCOPY);
        Guest onB = b.guest(guest);
        assertNotNull(onB, "adopted under the source's id");
        IncomingMigration in = b.incoming().get(there.id());
        assertEquals(onB, in.guest());
        assertTrue(stub(clientB).getGuest(GetGuestRequest.newBuilder().setGuestId(guest).build()).getRunning());
        // until it moves on, the incoming migration tracks its writes (uffd-wp) for the source's verification
        assertTrue(anyUffdWp(onB), "pages not written since resume are still write-protected by its userfaultfd");

        OutgoingMigration back = migrate(b, clientB, guest, nameA, MigrationMode.MIGRATION_MODE_PRECOPY);
        assertTrue(back.stats().trackerTruePositivePages() > 0, "B's tracker saw the guest's writes");
        assertNull(b.incoming().get(there.id()), "the incoming migration handed the guest over and is gone");
        assertTrue(onB.isReleased(), "B freed it once it was back on A");
        Guest onA = a.guest(guest);
        assertTrue(onA.isRunning(), "home again, under the same id, running");
        assertNull(onA.vcpuError());

        // and on again: A's new copy migrates like any guest of A, then is stopped on B
        migrate(a, clientA, guest, nameB, MigrationMode.MIGRATION_MODE_PRECOPY);
        stub(clientB).stopGuest(StopGuestRequest.newBuilder().setGuestId(guest).build());
        NodeStats sb = stub(clientB).getNodeStats(GetNodeStatsRequest.getDefaultInstance());
        assertEquals(0, sb.getAllocatedFrames(), sb::toString);
        assertEquals(0, sb.getIncomingMigrations(), sb::toString);
        assertEquals(0, sb.getAddressSpaces(), sb::toString);
    }

    private static boolean anyUffdWp(Guest g) {
        for (var r : g.layout().regions()) {
            for (long e : Pagemap.read(g.mm(), r.startAddress(), (int) (r.sizeBytes() >>> 12))) {
                if ((e & Pagemap.PM_UFFD_WP) != 0) {
                    return true;
                }
            }
        }
        return false;
    }
}
