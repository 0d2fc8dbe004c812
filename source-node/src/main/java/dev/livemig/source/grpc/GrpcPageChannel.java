package dev.livemig.source.grpc;

import dev.livemig.migration.transport.BatchBuffers;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.migration.transport.PageTransfer;
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
import dev.livemig.proto.v1.PageTransferGrpc;
import dev.livemig.target.TargetNode;
import dev.livemig.target.grpc.PageTransferCodec;
import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The source's side of livemig.v1.PageTransfer: a {@link PageChannel} over a gRPC
 * {@link Channel}. Unary calls block; PushPages and Postcopy are separate calls, so
 * HTTP/2 gives each its own stream and flow-control window and a priority page request
 * never waits behind a background batch.
 *
 * <p>PushPages honours flow control: {@code onNext} blocks while the call is not ready
 * (the target has not consumed what is in flight), so the page stream runs at the
 * target's install rate, as the engine's bandwidth measurement assumes. The post-copy
 * messages are small and are never held back.
 */
public final class GrpcPageChannel implements PageChannel {
    /** A unary call that has not answered by then has failed (a switchover waits up to 60 s on the target). */
    private static final long UNARY_DEADLINE_S = 120;

    private final PageTransferGrpc.PageTransferBlockingStub blocking;
    private final PageTransferGrpc.PageTransferStub async;
    private final PostcopyRoute postcopyRoute;
    /** The stubs of the parallel page streams (multifd); one: a single stream on {@link #async}. */
    private final List<PageTransferGrpc.PageTransferStub> pushAsync;
    private final Runnable onClose;
    private volatile String migrationId;

    /** A channel over {@code channel}; {@code onClose} releases whatever the caller wants released with it. */
    public GrpcPageChannel(Channel channel, Runnable onClose) {
        this(channel, channel, onClose);
    }

    /**
     * As above, with the Postcopy stream on {@code postcopyChannel}: given a connection of
     * its own (QEMU's postcopy-preempt channel), a page a vCPU waits for does not queue in
     * the socket behind the background push's batches.
     */
    public GrpcPageChannel(Channel channel, Channel postcopyChannel, Runnable onClose) {
        this(channel, postcopyChannel, List.of(channel), onClose);
    }

    /**
     * As above, with the page stream split over {@code pushChannels}, one PushPages call on
     * each (QEMU's multifd channels: one connection and one sending thread per channel).
     */
    public GrpcPageChannel(Channel channel, Channel postcopyChannel, List<? extends Channel> pushChannels,
                           Runnable onClose) {
        this(channel, () -> postcopyChannel, pushChannels, onClose);
    }

    /**
     * Where the Postcopy call goes: asked for a channel each time a priority stream opens
     * (at post-copy start, and again after a recovery), and told the port of the target's
     * post-copy listener when a handshake announces one.
     */
    public interface PostcopyRoute {
        Channel channel();

        default void announced(int port) {
        }
    }

    /** As above, with the priority stream's channel chosen by {@code postcopyRoute} when it opens. */
    public GrpcPageChannel(Channel channel, PostcopyRoute postcopyRoute, List<? extends Channel> pushChannels,
                           Runnable onClose) {
        this.pushAsync = pushChannels.stream().map(c -> PageTransferGrpc.newStub(c)
                .withMaxInboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES)
                .withMaxOutboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES)).toList();
        this.blocking = PageTransferGrpc.newBlockingStub(channel)
                .withMaxInboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES)
                .withMaxOutboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES);
        this.async = PageTransferGrpc.newStub(channel)
                .withMaxInboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES)
                .withMaxOutboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES);
        this.postcopyRoute = postcopyRoute;
        this.onClose = onClose;
    }

    public GrpcPageChannel(Channel channel) {
        this(channel, () -> { });
    }

    private PageTransferGrpc.PageTransferBlockingStub unary() {
        return blocking.withDeadlineAfter(UNARY_DEADLINE_S, TimeUnit.SECONDS);
    }

    @Override
    public HandshakeResponse handshake(HandshakeRequest request) {
        migrationId = request.migrationId();
        dev.livemig.proto.v1.HandshakeResponse r = unary().handshake(PageTransferCodec.handshakeRequest(request));
        if (r.getAccepted() && r.getPostcopyPort() > 0) {
            postcopyRoute.announced(r.getPostcopyPort());
        }
        return PageTransferCodec.handshakeResponse(r);
    }

    @Override
    public MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack) {
        if (pushAsync.size() > 1) {
            return MultifdPush.start(pushAsync, migrationId, ack);
        }
        PageTransferGrpc.PageTransferStub stub = async;
        String id = migrationId;
        if (id != null) {
            // lets the target bind the stream now, and hear of a cancel before any batch
            Metadata headers = new Metadata();
            headers.put(PageTransferCodec.MIGRATION_ID_HEADER, id);
            stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        }
        PushStream push = new PushStream(ack);
        PageTransferGrpc.PageTransferStub s = stub;
        detached(() -> SerialisedBatches.pushPages(s, push.responses));
        return push;
    }

    @Override
    public SwitchoverResponse switchover(SwitchoverRequest request) {
        return PageTransferCodec.switchoverResponse(unary().switchover(PageTransferCodec.switchoverRequest(request)));
    }

    /** On the page stream's connection, so that it queues behind the pages in flight as a Switchover does. */
    @Override
    public PageTransfer.SyncResponse sync(PageTransfer.SyncRequest request) {
        return PageTransferCodec.syncResponse(unary().sync(PageTransferCodec.syncRequest(request)));
    }

    @Override
    public MessageSink<PostcopySourceMessage> postcopy(MessageSink<PostcopyTargetMessage> fromTarget) {
        // page requests are answered on the transport thread that read them: reading one
        // page and queueing its answer is short and never blocks, and a hand-off to gRPC's
        // executor would add a thread wake-up to every post-copy fault
        PageTransferGrpc.PageTransferStub postcopyAsync = PageTransferGrpc.newStub(postcopyRoute.channel())
                .withMaxInboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES)
                .withMaxOutboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES)
                .withExecutor(Runnable::run);
        StreamObserver<dev.livemig.proto.v1.PostcopySourceMessage> toTarget =
                detached(() -> postcopyAsync.postcopy(observer(fromTarget, PageTransferCodec::postcopyTarget)));
        return new MessageSink<>() {
            @Override
            public void onNext(PostcopySourceMessage m) {
                dev.livemig.proto.v1.PostcopySourceMessage p = PageTransferCodec.postcopySource(m);
                synchronized (toTarget) {
                    toTarget.onNext(p);
                }
            }

            @Override
            public void onCompleted() {
                synchronized (toTarget) {
                    toTarget.onCompleted();
                }
            }

            @Override
            public void onError(Throwable t) {
                synchronized (toTarget) {
                    toTarget.onError(t);
                }
            }
        };
    }

    @Override
    public ReceivedBitmapResponse receivedBitmap(ReceivedBitmapRequest request) {
        return PageTransferCodec.receivedBitmapResponse(
                unary().receivedBitmap(PageTransferCodec.receivedBitmapRequest(request)));
    }

    @Override
    public VerifyResponse verify(VerifyRequest request) {
        return PageTransferCodec.verifyResponse(unary().verify(PageTransferCodec.verifyRequest(request)));
    }

    @Override
    public void close() {
        onClose.run();
    }

    /**
     * Starts a stream outside the caller's gRPC context: the engine may open a stream while
     * serving an RPC (StartMigration with manual rounds, RunRound), and a call started in
     * that context would be cancelled as soon as that RPC returns.
     */
    static <T> T detached(Supplier<T> start) {
        Context ctx = Context.current().fork();
        Context prev = ctx.attach();
        try {
            return start.get();
        } finally {
            ctx.detach(prev);
        }
    }

    private static <P, T> StreamObserver<P> observer(MessageSink<T> sink, Function<P, T> decode) {
        return new StreamObserver<>() {
            @Override
            public void onNext(P value) {
                sink.onNext(decode.apply(value));
            }

            @Override
            public void onError(Throwable t) {
                sink.onError(t);
            }

            @Override
            public void onCompleted() {
                sink.onCompleted();
            }
        };
    }

    /**
     * The engine tells a target's refusal (INVALID_ARGUMENT: a batch it would not take) from
     * a broken connection (every other status), since only the latter is worth a reconnect.
     */
    /**
     * What a send throws once its call failed: the refusal as a refusal, whichever of the
     * sending thread and the ack observer hears of it first (regression: a sender that saw
     * the INVALID_ARGUMENT before the observer had passed it on reported a broken stream,
     * and the engine reconnected instead of failing with the target's reason).
     */
    static RuntimeException sendFailure(Throwable t) {
        Status s = Status.fromThrowable(t);
        return s.getCode() == Status.Code.INVALID_ARGUMENT
                ? new dev.livemig.migration.transport.PageTransfer.Refused(s.getDescription(), t) : s.asRuntimeException();
    }

    static Throwable refusalOrBreak(Throwable t) {
        RuntimeException f = sendFailure(t);
        return f instanceof dev.livemig.migration.transport.PageTransfer.Refused ? f : t;
    }

    /** The PushPages call: a page sink that waits for the call to be ready, and the observer of the ack. */
    static final class PushStream implements MessageSink<PageBatch> {
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition ready = lock.newCondition();
        private volatile ClientCallStreamObserver<dev.livemig.proto.v1.PageBatch> call;
        private volatile Throwable failure;
        final ClientResponseObserver<dev.livemig.proto.v1.PageBatch, dev.livemig.proto.v1.PushPagesAck> responses;

        PushStream(MessageSink<PushPagesAck> ack) {
            this.responses = new ClientResponseObserver<>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<dev.livemig.proto.v1.PageBatch> requestStream) {
                    call = requestStream;
                    requestStream.setOnReadyHandler(PushStream.this::wake);
                }

                @Override
                public void onNext(dev.livemig.proto.v1.PushPagesAck value) {
                    ack.onNext(PageTransferCodec.pushPagesAck(value));
                }

                @Override
                public void onError(Throwable t) {
                    failure = t;
                    wake();
                    ack.onError(refusalOrBreak(t));
                }

                @Override
                public void onCompleted() {
                    ack.onCompleted();
                }
            };
        }

        private void wake() {
            lock.lock();
            try {
                ready.signalAll();
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void onNext(PageBatch batch) {
            dev.livemig.proto.v1.PageBatch p = PageTransferCodec.pageBatch(batch);
            lock.lock();
            try {
                // the ready handler may run between isReady() and await(): re-check now and then
                while (!call.isReady() && failure == null) {
                    ready.await(50, TimeUnit.MILLISECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw Status.CANCELLED.withDescription("interrupted while sending").asRuntimeException();
            } finally {
                lock.unlock();
            }
            if (failure != null) {
                throw sendFailure(failure);
            }
            call.onNext(p);
            if (SerialisedBatches.copiedOut()) {
                BatchBuffers.SEND.give(batch.data()); // gRPC holds a copy now; the sender may reuse the array
            }
        }

        @Override
        public void onCompleted() {
            call.onCompleted();
        }

        @Override
        public void onError(Throwable t) {
            call.onError(t);
        }
    }
}
