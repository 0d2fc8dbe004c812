package dev.livemig.source.grpc;

import dev.livemig.proto.v1.PageBatch;
import dev.livemig.proto.v1.PageTransferGrpc;
import dev.livemig.proto.v1.PushPagesAck;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * PushPages with a request marshaller that tells the sender whether gRPC copied a batch
 * into its own buffers before {@code onNext} returned, so that the page-data array the
 * batch wraps can be reused ({@link dev.livemig.migration.transport.BatchBuffers}).
 *
 * <p>grpc-java serialises a message on the calling thread once the call's stream exists
 * (the sender waits for {@code isReady()}, so it does); a stream still being set up would
 * keep the message and serialise it later, and then the array is not given back. The
 * nodes' channels run without gRPC's retries ({@code disableRetry}), which would otherwise
 * keep a message for a replay after it was written; the engine resends lost batches itself.
 */
final class SerialisedBatches {
    private static final MethodDescriptor.Marshaller<PageBatch> STOCK =
            PageTransferGrpc.getPushPagesMethod().getRequestMarshaller();

    /** The stream made for the last batch this thread sent, read back right after the send. */
    private static final ThreadLocal<Tracked> LAST = new ThreadLocal<>();

    static final MethodDescriptor<PageBatch, PushPagesAck> PUSH_PAGES =
            PageTransferGrpc.getPushPagesMethod().toBuilder(new MethodDescriptor.Marshaller<PageBatch>() {
                @Override
                public InputStream stream(PageBatch value) {
                    Tracked t = new Tracked(STOCK.stream(value));
                    LAST.set(t);
                    return t;
                }

                @Override
                public PageBatch parse(InputStream stream) {
                    return STOCK.parse(stream);
                }
            }, PageTransferGrpc.getPushPagesMethod().getResponseMarshaller()).build();

    private SerialisedBatches() {
    }

    /** Starts PushPages on {@code stub}'s channel and options (its interceptors included) with this marshaller. */
    static StreamObserver<PageBatch> pushPages(PageTransferGrpc.PageTransferStub stub,
                                               StreamObserver<PushPagesAck> responses) {
        return ClientCalls.asyncBidiStreamingCall(stub.getChannel().newCall(PUSH_PAGES, stub.getCallOptions()),
                responses);
    }

    /**
     * After a send on this thread: whether every byte of the message was copied out by then
     * (false if it was not serialised at all, or only partly).
     */
    static boolean copiedOut() {
        Tracked t = LAST.get();
        LAST.remove();
        return t != null && t.done;
    }

    /** The stock message stream, noting when the last byte of it has been taken. */
    private static final class Tracked extends InputStream implements Drainable, KnownLength {
        private final InputStream in;
        private volatile boolean done;

        Tracked(InputStream in) {
            this.in = in;
        }

        @Override
        public int drainTo(OutputStream target) throws IOException {
            int n = in instanceof Drainable d ? d.drainTo(target) : (int) in.transferTo(target);
            done = true;
            return n;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b < 0) {
                done = true;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n < 0 || (len > 0 && in.available() == 0)) {
                done = true;
            }
            return n;
        }

        @Override
        public int available() throws IOException {
            return in.available();
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
