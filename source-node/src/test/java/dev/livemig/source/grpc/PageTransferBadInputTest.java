package dev.livemig.source.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.mm.Kernel;
import dev.livemig.proto.v1.GuestLayout;
import dev.livemig.proto.v1.HandshakeRequest;
import dev.livemig.proto.v1.HandshakeResponse;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.PageBatch;
import dev.livemig.proto.v1.PageTransferGrpc;
import dev.livemig.proto.v1.PostcopySourceMessage;
import dev.livemig.proto.v1.PostcopyStart;
import dev.livemig.proto.v1.PostcopyTargetMessage;
import dev.livemig.proto.v1.PushPagesAck;
import dev.livemig.proto.v1.ReceivedBitmapRequest;
import dev.livemig.proto.v1.RegionKind;
import dev.livemig.proto.v1.RegionLayout;
import dev.livemig.proto.v1.SwitchoverRequest;
import dev.livemig.proto.v1.VerifyRequest;
import dev.livemig.target.TargetNode;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Bad input to a target node's PageTransfer service over a real gRPC channel: requests
 * with missing or out-of-range fields are INVALID_ARGUMENT with a message and open nothing,
 * an unknown migration id is NOT_FOUND, another protocol version is refused at the
 * handshake, a malformed page batch is refused before any of its pages is placed, and a
 * page with a bad checksum or a batch that arrives twice is dropped while the stream goes on.
 */
class PageTransferBadInputTest {
    private static final long ANON = 0x7f00_0000_0000L;
    private static final long HUGE = 0x7f00_4000_0000L;
    private static final int PAGE = 4096;
    private static final int HPAGE = 2 << 20;

    private Kernel kernel;
    private TargetNode node;
    private ManagedChannel channel;
    private PageTransferGrpc.PageTransferBlockingStub stub;
    private PageTransferGrpc.PageTransferStub async;

    @BeforeEach
    void start() throws Exception {
        kernel = new Kernel(new Kernel.Config().nrHugepages(4));
        String name = InProcessServerBuilder.generateName();
        node = new TargetNode(InProcessServerBuilder.forName(name), () -> new IncomingMigration(kernel)).start();
        channel = InProcessChannelBuilder.forName(name).build();
        stub = PageTransferGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
        async = PageTransferGrpc.newStub(channel);
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        node.close();
        node.migrations().close();
        kernel.close();
    }

    /** 16 anonymous pages and one 2 MiB hugetlb page. */
    private static GuestLayout layout() {
        return GuestLayout.newBuilder().setSizeBytes(16 * PAGE + HPAGE).setVcpuCount(1)
                .addRegions(RegionLayout.newBuilder().setName("anon").setKind(RegionKind.REGION_KIND_ANON)
                        .setStartAddress(ANON).setSizeBytes(16 * PAGE).setPageSizeBytes(PAGE))
                .addRegions(RegionLayout.newBuilder().setName("hugetlb").setKind(RegionKind.REGION_KIND_HUGETLB)
                        .setStartAddress(HUGE).setSizeBytes(HPAGE).setPageSizeBytes(HPAGE))
                .build();
    }

    private static HandshakeRequest.Builder handshake(String id) {
        return HandshakeRequest.newBuilder().setProtocolVersion(PageTransfer.PROTOCOL_VERSION).setMigrationId(id)
                .setMode(MigrationMode.MIGRATION_MODE_PRECOPY).setLayout(layout());
    }

    private static byte[] page(int fill) {
        byte[] b = new byte[PAGE];
        java.util.Arrays.fill(b, (byte) fill);
        return b;
    }

    /** A batch of anonymous pages {@code indexes}, page i filled with byte i + 1. */
    private static PageBatch.Builder batch(String id, long sequence, int... indexes) {
        PageBatch.Builder b = PageBatch.newBuilder().setMigrationId(id).setSequence(sequence).setPageSizeBytes(PAGE);
        ByteString data = ByteString.EMPTY;
        for (int i : indexes) {
            byte[] p = page(i + 1);
            b.addAddresses(ANON + (long) i * PAGE).addFlags(0).addCrc32C(PageTransfer.crc32c(p, 0, PAGE));
            data = data.concat(ByteString.copyFrom(p));
        }
        return b.setData(data);
    }

    private static StatusRuntimeException statusOf(Executable call) {
        try {
            call.execute();
        } catch (StatusRuntimeException e) {
            return e;
        } catch (Throwable t) {
            throw new AssertionError("expected a gRPC status, got " + t, t);
        }
        throw new AssertionError("the call succeeded");
    }

    private static void assertStatus(Status.Code code, String says, Executable call) {
        StatusRuntimeException e = statusOf(call);
        assertEquals(code, e.getStatus().getCode(), e::toString);
        String d = e.getStatus().getDescription();
        assertNotNull(d, "a status without a message");
        assertTrue(d.contains(says), () -> "'" + d + "' does not say '" + says + "'");
    }

    /** One PushPages call: sends {@code batches}, half-closes, and returns how the call ended. */
    private CompletableFuture<PushPagesAck> push(String headerless, PageBatch... batches) {
        CompletableFuture<PushPagesAck> result = new CompletableFuture<>();
        StreamObserver<PageBatch> out = async.pushPages(new StreamObserver<>() {
            private PushPagesAck ack;

            @Override
            public void onNext(PushPagesAck value) {
                ack = value;
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                result.complete(ack);
            }
        });
        for (PageBatch b : batches) {
            out.onNext(b);
        }
        out.onCompleted();
        return result;
    }

    private static StatusRuntimeException failureOf(CompletableFuture<?> f) {
        return statusOf(() -> {
            try {
                f.get(30, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                throw e.getCause();
            }
        });
    }

    // ---- handshake ------------------------------------------------------------------------

    @Test
    void handshakesWithMissingOrOutOfRangeFields_areInvalidArgumentAndOpenNothing() {
        assertStatus(Status.Code.INVALID_ARGUMENT, "migration_id missing",
                () -> stub.handshake(handshake("").build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "without a layout",
                () -> stub.handshake(handshake("m").clearLayout().build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "without a migration mode",
                () -> stub.handshake(handshake("m").clearMode().build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "no regions",
                () -> stub.handshake(handshake("m").setLayout(GuestLayout.newBuilder().setSizeBytes(PAGE)).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "page_size_bytes 8192",
                () -> stub.handshake(handshake("m").setLayout(layout().toBuilder()
                        .setRegions(0, layout().getRegions(0).toBuilder().setPageSizeBytes(8192))).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "multiples of",
                () -> stub.handshake(handshake("m").setLayout(layout().toBuilder()
                        .setRegions(0, layout().getRegions(0).toBuilder().setStartAddress(ANON + 100))).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "not a region kind",
                () -> stub.handshake(handshake("m").setLayout(layout().toBuilder()
                        .setRegions(0, layout().getRegions(0).toBuilder().setKind(RegionKind.REGION_KIND_UNSPECIFIED)))
                        .build()));
        assertEquals(0, node.migrations().size(), "no refused handshake left a migration behind");
        assertTrue(stub.handshake(handshake("m").build()).getAccepted(), "the same id opens once the request is right");
    }

    @Test
    void anotherProtocolVersion_isRefusedAtTheHandshake() {
        for (int v : new int[] {0, PageTransfer.PROTOCOL_VERSION + 1, 99}) {
            HandshakeResponse r = stub.handshake(handshake("m").setProtocolVersion(v).build());
            assertFalse(r.getAccepted(), "version " + v);
            assertEquals(PageTransfer.PROTOCOL_VERSION, r.getProtocolVersion(), "the target says what it speaks");
            assertTrue(r.getReason().contains("protocol version " + v + " unsupported"), r.getReason());
            assertEquals(0, node.migrations().size(), "a refused handshake opens nothing");
        }
        // nothing else can be done under the refused id
        assertStatus(Status.Code.NOT_FOUND, "no incoming migration m",
                () -> stub.receivedBitmap(ReceivedBitmapRequest.newBuilder().setMigrationId("m").build()));
        assertTrue(stub.handshake(handshake("m").build()).getAccepted());
    }

    // ---- unknown ids, missing ids ---------------------------------------------------------

    @Test
    void anUnknownMigrationId_isNotFoundOnEveryCall_andTheOpenMigrationIsUntouched() {
        assertTrue(stub.handshake(handshake("real").build()).getAccepted());
        assertStatus(Status.Code.NOT_FOUND, "no incoming migration other",
                () -> stub.switchover(SwitchoverRequest.newBuilder().setMigrationId("other").setLayout(layout()).build()));
        assertStatus(Status.Code.NOT_FOUND, "no incoming migration other",
                () -> stub.receivedBitmap(ReceivedBitmapRequest.newBuilder().setMigrationId("other").build()));
        assertStatus(Status.Code.NOT_FOUND, "no incoming migration other",
                () -> stub.verify(VerifyRequest.newBuilder().setMigrationId("other").build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "migration_id missing",
                () -> stub.receivedBitmap(ReceivedBitmapRequest.getDefaultInstance()));
        StatusRuntimeException e = failureOf(push(null, batch("other", 0, 1).build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode(), e::toString);

        CompletableFuture<Void> pc = new CompletableFuture<>();
        StreamObserver<PostcopySourceMessage> toTarget = async.postcopy(new StreamObserver<PostcopyTargetMessage>() {
            @Override
            public void onNext(PostcopyTargetMessage value) {
            }

            @Override
            public void onError(Throwable t) {
                pc.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                pc.complete(null);
            }
        });
        toTarget.onNext(PostcopySourceMessage.newBuilder()
                .setStart(PostcopyStart.newBuilder().setMigrationId("other")).build());
        assertEquals(Status.Code.NOT_FOUND, failureOf(pc).getStatus().getCode());
        toTarget.onCompleted();

        IncomingMigration real = node.migrations().get("real");
        assertEquals(IncomingMigration.State.RECEIVING, real.state());
        assertEquals(0, real.receivedPages().cardinality());
        assertEquals(1, node.migrations().size());
    }

    // ---- malformed batches ------------------------------------------------------------------

    /**
     * Opens migration {@code id}, pushes a good batch (pages 0 and 1) and then {@code bad}
     * (made from a good batch of pages 2 and 3), and checks that the stream is refused with
     * INVALID_ARGUMENT saying {@code says} and that only the good batch's pages are there.
     */
    private void refused(String id, String says, UnaryOperator<PageBatch.Builder> bad) {
        assertTrue(stub.handshake(handshake(id).build()).getAccepted());
        StatusRuntimeException e = failureOf(push(null, batch(id, 0, 0, 1).build(),
                bad.apply(batch(id, 1, 2, 3)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e::toString);
        assertTrue(e.getStatus().getDescription().contains(says), e::toString);
        IncomingMigration m = node.migrations().get(id);
        assertEquals(2, m.receivedPages().cardinality(), "the refused batch placed none of its pages");
        assertTrue(m.receivedPages().get(0) && m.receivedPages().get(1));
        assertEquals(0, m.counters().checksumMismatchPages());
        // a source that sends malformed batches cannot be trusted with the guest: the target drops its copy
        assertEquals(IncomingMigration.State.FAILED, m.state());
        assertTrue(m.error().contains(says), m.error());
    }

    @Test
    void aBatchOfTheWrongPageSize_isRefusedWhole() {
        refused("size", "but its region has 4096-byte pages", b -> b.setPageSizeBytes(HPAGE));
        // 4 KiB pages into the hugetlb region
        refused("size-huge", "but its region has 2097152-byte pages", b -> b.setAddresses(1, HUGE));
    }

    @Test
    void aBatchWithAnAddressOutsideTheGuest_isRefusedWhole() {
        refused("outside", "is outside the guest", b -> b.setAddresses(1, ANON + 16L * PAGE));
        refused("below", "is outside the guest", b -> b.setAddresses(0, ANON - PAGE));
        refused("unaligned", "of 4096 bytes", b -> b.setAddresses(1, ANON + 3L * PAGE + 8));
    }

    @Test
    void otherMalformedBatches_areRefusedWhole() {
        refused("data", "bytes of data for 2 pages", b -> b.setData(b.getData().substring(0, PAGE)));
        refused("arrays", "2 addresses, 1 flags", b -> b.clearFlags().addFlags(0));
        refused("flags", "unknown flags 0x40", b -> b.setFlags(0, 0x40));
        refused("foreign", "message for migration someone-else", b -> b.setMigrationId("someone-else"));
    }

    // ---- damaged and duplicate pages: dropped, the stream goes on ---------------------------

    @Test
    void aBadChecksumOrADuplicateBatch_isDroppedAndTheStreamGoesOn() throws Exception {
        String id = "crc";
        assertTrue(stub.handshake(handshake(id).build()).getAccepted());
        PageBatch good = batch(id, 0, 0, 1, 2).build();
        PageBatch damaged = batch(id, 1, 3, 4).setCrc32C(1, 0xdead).build();
        PageBatch again = batch(id, 2, 4).build();
        PushPagesAck ack = push(null, good, damaged, good, again).get(30, TimeUnit.SECONDS);
        IncomingMigration m = node.migrations().get(id);
        assertEquals(IncomingMigration.State.RECEIVING, m.state(), "nothing here fails the migration");
        assertEquals(1, ack.getChecksumMismatchPages());
        assertEquals(1, m.counters().duplicateBatches(), "the second copy of batch 0 was recognised");
        assertEquals(3, ack.getBatchesReceived());
        for (int i = 0; i < 5; i++) {
            assertTrue(m.receivedPages().get(i), "page " + i);
        }
        for (int i = 0; i < 5; i++) {
            assertEquals(i + 1, m.guest().mm().readLong(ANON + (long) i * PAGE) & 0xff, "contents of page " + i);
        }
    }
}
