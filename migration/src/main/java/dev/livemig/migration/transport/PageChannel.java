package dev.livemig.migration.transport;

import dev.livemig.migration.transport.PageTransfer.HandshakeRequest;
import dev.livemig.migration.transport.PageTransfer.HandshakeResponse;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceMessage;
import dev.livemig.migration.transport.PageTransfer.PostcopyTargetMessage;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapRequest;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapResponse;
import dev.livemig.migration.transport.PageTransfer.SwitchoverRequest;
import dev.livemig.migration.transport.PageTransfer.SwitchoverResponse;
import dev.livemig.migration.transport.PageTransfer.VerifyRequest;
import dev.livemig.migration.transport.PageTransfer.VerifyResponse;

/**
 * The data plane between a source and a target, one method per RPC of
 * {@code livemig.v1.PageTransfer} with grpc-java's async-stub shapes: unary calls
 * block and return the response, streams take the sink for the other direction and
 * return the sink for this one.
 *
 * <p>The source engine calls a PageChannel; the target engine
 * ({@code target.IncomingMigration}) implements it. Transports sit in between:
 * {@link InMemoryPageChannel} for two engines in one JVM, and a gRPC client on the
 * source plus a gRPC service on the target that map each message 1:1 onto the proto.
 *
 * <pre>
 *   source                                   target
 *   handshake(layout, mode)          ---->   map regions, register userfaultfd
 *   pushPages: PageBatch* ... close  ---->   UFFDIO_COPY / ZEROPAGE, crc32c check
 *                                    <----   PushPagesAck (once, after close)
 *   switchover(vCPUs, pause time)    ---->   write-protect, resume vCPUs
 *                                    <----   resumed at t
 *   postcopy: start, PageData*, done ---->   install + wake faulting vCPUs
 *                                    <----   PageRequest* (priority), done
 *   receivedBitmap / verify          ---->   bitmaps, checksum comparison
 * </pre>
 */
public interface PageChannel extends AutoCloseable {
    /** Opens a migration on the target: maps the layout and registers it with userfaultfd. */
    HandshakeResponse handshake(HandshakeRequest request);

    /**
     * The page stream (client streaming): pre-copy rounds, discards before a post-copy
     * switchover, and post-copy's background push. {@code ack} gets exactly one
     * {@link PushPagesAck} after the returned sink is completed, or an error.
     */
    MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack);

    /** Stop-and-copy is over: the target resumes the guest; returns once it did (or failed to). */
    SwitchoverResponse switchover(SwitchoverRequest request);

    /**
     * The post-copy priority channel (bidirectional): the source sends PostcopyStart,
     * then PageData answers and finally PostcopySourceDone; the target sends a
     * PageRequest per missing-page fault on {@code fromTarget}, then PostcopyTargetDone.
     */
    MessageSink<PostcopySourceMessage> postcopy(MessageSink<PostcopyTargetMessage> fromTarget);

    ReceivedBitmapResponse receivedBitmap(ReceivedBitmapRequest request);

    VerifyResponse verify(VerifyRequest request);

    /**
     * A control round trip that changes nothing: what a switchover would cost now, the
     * target's clock, and whether the guest answers there. A transport without it
     * answers UnsupportedOperationException; callers treat that as "not measured".
     */
    default PageTransfer.SyncResponse sync(PageTransfer.SyncRequest request) {
        throw new UnsupportedOperationException("this channel has no Sync");
    }

    @Override
    default void close() {
    }
}
