package dev.livemig.target.grpc;

import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.mm.KernelException;
import dev.livemig.proto.v1.HandshakeRequest;
import dev.livemig.proto.v1.HandshakeResponse;
import dev.livemig.proto.v1.PageBatch;
import dev.livemig.proto.v1.PageTransferGrpc;
import dev.livemig.proto.v1.PostcopySourceMessage;
import dev.livemig.proto.v1.PostcopyTargetMessage;
import dev.livemig.proto.v1.PushPagesAck;
import dev.livemig.proto.v1.ReceivedBitmapRequest;
import dev.livemig.proto.v1.ReceivedBitmapResponse;
import dev.livemig.proto.v1.SwitchoverRequest;
import dev.livemig.proto.v1.SwitchoverResponse;
import dev.livemig.proto.v1.VerifyRequest;
import dev.livemig.proto.v1.VerifyResponse;
import dev.livemig.target.IncomingMigrations;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.function.Function;

/**
 * livemig.v1.PageTransfer on the target: each RPC maps its request onto the engine's
 * record ({@link PageTransferCodec}), calls the {@link IncomingMigration} the migration
 * id names, and maps the answer back. A missing migration id or a malformed message is
 * INVALID_ARGUMENT, an id no handshake opened is NOT_FOUND.
 */
public final class PageTransferService extends PageTransferGrpc.PageTransferImplBase {
    /** The PushPages stream's migration, from {@link PageTransferCodec#MIGRATION_ID_HEADER}. */
    private static final Context.Key<String> MIGRATION_ID = Context.key("livemig-migration-id");
    /** The PushPages stream's multifd group, from {@link PageTransferCodec#MULTIFD_HEADER}. */
    private static final Context.Key<String> MULTIFD = Context.key("livemig-multifd");

    /** Multifd groups some of whose calls have bound and not all have ended. */
    private final java.util.concurrent.ConcurrentHashMap<String, MultifdGroup> groups =
            new java.util.concurrent.ConcurrentHashMap<>();

    private final IncomingMigrations migrations;
    /** The port of the node's post-copy listener, announced in every accepted handshake; 0: none. */
    private volatile int postcopyPort;

    public PageTransferService(IncomingMigrations migrations) {
        this.migrations = migrations;
    }

    /** Announces {@code port} (the node's post-copy listener) in the handshakes accepted from now on. */
    public void announcePostcopyPort(int port) {
        if (port < 0 || port > 0xFFFF) {
            throw new IllegalArgumentException("postcopy port " + port + " out of range");
        }
        this.postcopyPort = port;
    }

    /** Only the Postcopy method: what the node's post-copy listener serves. */
    public io.grpc.ServerServiceDefinition bindPostcopyOnly() {
        return postcopyOnly(bindService());
    }

    private static <Q, R> io.grpc.ServerServiceDefinition postcopyOnly(io.grpc.ServerServiceDefinition all) {
        @SuppressWarnings("unchecked")
        io.grpc.ServerMethodDefinition<Q, R> m = (io.grpc.ServerMethodDefinition<Q, R>) all.getMethod(
                PageTransferGrpc.getPostcopyMethod().getFullMethodName());
        return io.grpc.ServerServiceDefinition.builder(PageTransferGrpc.SERVICE_NAME).addMethod(m).build();
    }

    /** The service, with PushPages batches parsed without copying their page data ({@link AliasingMarshaller}). */
    public io.grpc.ServerServiceDefinition bindAliasing() {
        return AliasingMarshaller.aliasRequests(bindService(), PageTransferGrpc.getPushPagesMethod(),
                PageBatch.getDefaultInstance());
    }

    /** Copies the migration-id header into the call's context (install with ServerInterceptors.intercept). */
    public static ServerInterceptor migrationIdInterceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                               ServerCallHandler<Q, R> next) {
                String id = headers.get(PageTransferCodec.MIGRATION_ID_HEADER);
                String multifd = headers.get(PageTransferCodec.MULTIFD_HEADER);
                if (id == null && multifd == null) {
                    return next.startCall(call, headers);
                }
                Context ctx = Context.current();
                if (id != null) {
                    ctx = ctx.withValue(MIGRATION_ID, id);
                }
                if (multifd != null) {
                    ctx = ctx.withValue(MULTIFD, multifd);
                }
                return Contexts.interceptCall(ctx, call, headers, next);
            }
        };
    }

    // ---- unary calls ------------------------------------------------------------------

    @Override
    public void handshake(HandshakeRequest request, StreamObserver<HandshakeResponse> out) {
        unary(out, () -> {
            String id = requireId(request.getMigrationId());
            PageTransfer.HandshakeRequest req = PageTransferCodec.handshakeRequest(request);
            boolean[] created = new boolean[1];
            IncomingMigration m = migrations.open(id, created);
            PageTransfer.HandshakeResponse resp;
            try {
                resp = m.handshake(req);
            } catch (RuntimeException e) {
                if (created[0]) {
                    migrations.drop(id, m);
                }
                throw e;
            }
            if (!resp.accepted() && created[0]) {
                migrations.drop(id, m);
            }
            HandshakeResponse r = PageTransferCodec.handshakeResponse(resp);
            int port = postcopyPort;
            return resp.accepted() && port > 0 ? r.toBuilder().setPostcopyPort(port).build() : r;
        });
    }

    @Override
    public void switchover(SwitchoverRequest request, StreamObserver<SwitchoverResponse> out) {
        unary(out, () -> PageTransferCodec.switchoverResponse(
                find(request.getMigrationId()).switchover(PageTransferCodec.switchoverRequest(request))));
    }

    @Override
    public void sync(dev.livemig.proto.v1.SyncRequest request, StreamObserver<dev.livemig.proto.v1.SyncResponse> out) {
        unary(out, () -> PageTransferCodec.syncResponse(
                find(request.getMigrationId()).sync(PageTransferCodec.syncRequest(request))));
    }

    @Override
    public void receivedBitmap(ReceivedBitmapRequest request, StreamObserver<ReceivedBitmapResponse> out) {
        unary(out, () -> PageTransferCodec.receivedBitmapResponse(
                find(request.getMigrationId()).receivedBitmap(PageTransferCodec.receivedBitmapRequest(request))));
    }

    @Override
    public void verify(VerifyRequest request, StreamObserver<VerifyResponse> out) {
        unary(out, () -> {
            IncomingMigration m = find(request.getMigrationId());
            PageTransfer.VerifyRequest req = PageTransferCodec.verifyRequest(request);
            for (PageTransfer.RegionChecksums rc : req.regions()) {
                var r = m.guest().layout().region(rc.regionName());
                if (r == null || rc.crc32c().length > r.pages()) {
                    throw new IllegalArgumentException("region " + rc.regionName() + " with "
                            + rc.crc32c().length + " checksums does not match the guest's layout");
                }
            }
            return PageTransferCodec.verifyResponse(m.verify(req));
        });
    }

    // ---- streams --------------------------------------------------------------------------

    /**
     * Bound to its migration by the id header at once, or else by the first batch. The
     * engine's sink is called on gRPC's thread for this call, one message at a time. The
     * call keeps {@link #PUSH_PREFETCH_BATCHES} messages requested rather than gRPC's one,
     * and asks for one more as each onNext returns: the transport deframes the next
     * batches while the engine installs this one, instead of a round trip between the
     * application and transport threads per batch. A slow install still slows the source
     * down through HTTP/2 flow control, a few batches later.
     */
    @Override
    public StreamObserver<PageBatch> pushPages(StreamObserver<PushPagesAck> out) {
        MessageSink<PageTransfer.PushPagesAck> ack = sink(out, PageTransferCodec::pushPagesAck);
        Runnable next = () -> { };
        if (out instanceof ServerCallStreamObserver<PushPagesAck> call) {
            call.disableAutoRequest();
            call.request(PUSH_PREFETCH_BATCHES);
            next = () -> call.request(1);
        }
        Function<IncomingMigration, MessageSink<PageTransfer.PageBatch>> open = m -> m.pushPages(ack);
        String multifd = MULTIFD.get();
        if (multifd != null) {
            int[] ic = MultifdGroup.indexAndCount(multifd);
            if (ic == null) {
                out.onError(Status.INVALID_ARGUMENT.withDescription("malformed " + PageTransferCodec.MULTIFD_HEADER.name()
                        + " header: " + multifd).asRuntimeException());
                return new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(PageBatch value) {
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                    }
                };
            }
            String key = multifd.substring(0, multifd.indexOf('/'));
            open = m -> {
                MultifdGroup g = groups.computeIfAbsent(key, k -> new MultifdGroup(k, ic[1], () -> groups.remove(k)));
                if (g.count() != ic[1]) {
                    throw new IllegalArgumentException("multifd group " + key + " of " + g.count()
                            + " calls, not " + ic[1]);
                }
                return g.join(m, ack);
            };
        }
        Bound<PageBatch, PageTransfer.PageBatch> bound = new Bound<>(out, MIGRATION_ID.get(),
                PageBatch::getMigrationId, open, PageTransferCodec::pageBatch);
        bound.afterMessage = next;
        return bound;
    }

    /** PushPages messages requested ahead of the one being installed (about 1 MiB each). */
    static final int PUSH_PREFETCH_BATCHES = 4;

    /** Bound by the PostcopyStart the source sends first. */
    @Override
    public StreamObserver<PostcopySourceMessage> postcopy(StreamObserver<PostcopyTargetMessage> out) {
        MessageSink<PageTransfer.PostcopyTargetMessage> toSource = sink(out, PageTransferCodec::postcopyTarget);
        return new Bound<>(out, null, msg -> msg.hasStart() ? msg.getStart().getMigrationId() : "",
                m -> m.postcopy(toSource), PageTransferCodec::postcopySource);
    }

    /**
     * The request side of a stream: finds its migration, then hands every message, mapped,
     * to the engine's sink. A bad message fails the stream (and the engine hears of it as
     * an error, as from a broken connection).
     */
    private final class Bound<P, T> implements StreamObserver<P> {
        private final StreamObserver<?> out;
        private final Function<P, String> idOf;
        private final Function<IncomingMigration, MessageSink<T>> open;
        private final Function<P, T> decode;
        private MessageSink<T> engine;
        private String boundId;
        private boolean failed;
        /** Requests the next message when the call does not do so by itself. */
        Runnable afterMessage = () -> { };

        Bound(StreamObserver<?> out, String headerId, Function<P, String> idOf,
              Function<IncomingMigration, MessageSink<T>> open, Function<P, T> decode) {
            this.out = out;
            this.idOf = idOf;
            this.open = open;
            this.decode = decode;
            if (headerId != null) {
                bind(headerId);
            }
        }

        private void bind(String id) {
            try {
                engine = open.apply(find(id));
                boundId = id;
            } catch (RuntimeException e) {
                failed = true;
                out.onError(toStatus(e));
            }
        }

        @Override
        public void onNext(P message) {
            if (failed) {
                return;
            }
            if (engine == null) {
                bind(idOf.apply(message));
                if (failed) {
                    return;
                }
            }
            try {
                String id = idOf.apply(message);
                if (!id.isEmpty() && !id.equals(boundId)) {
                    throw new IllegalArgumentException("message for migration " + id + " on the stream of " + boundId);
                }
                try {
                    engine.onNext(decode.apply(message));
                } finally {
                    AliasingMarshaller.recycleParsed(); // placed (or refused): nothing holds its array now
                }
                afterMessage.run();
            } catch (RuntimeException e) {
                // a malformed message, or one the engine refused before changing anything:
                // the stream ends, and the engine hears why (an IllegalArgumentException, not a broken connection)
                failed = true;
                engine.onError(e);
                out.onError(toStatus(e));
            }
        }

        @Override
        public void onError(Throwable t) {
            if (engine != null && !failed) {
                engine.onError(t);
            }
        }

        @Override
        public void onCompleted() {
            if (failed) {
                return;
            }
            if (engine == null) {
                out.onError(Status.INVALID_ARGUMENT.withDescription("stream ended before naming its migration")
                        .asRuntimeException());
                return;
            }
            engine.onCompleted();
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    private IncomingMigration find(String id) {
        IncomingMigration m = migrations.get(requireId(id));
        if (m == null) {
            throw Status.NOT_FOUND.withDescription("no incoming migration " + id).asRuntimeException();
        }
        return m;
    }

    private static String requireId(String id) {
        if (id == null || id.isEmpty()) {
            throw new IllegalArgumentException("migration_id missing");
        }
        return id;
    }

    /**
     * The engine's answers onto a response stream; gRPC's observers are not thread-safe.
     * Once the call is cancelled (the connection broke) answers go nowhere instead of
     * throwing into the engine's thread (grpc-java throws from onNext on a cancelled call
     * unless a cancel handler is set): the engine hears of the break on the request side.
     */
    private static <T, P> MessageSink<T> sink(StreamObserver<P> out, Function<T, P> encode) {
        ServerCallStreamObserver<P> call = (ServerCallStreamObserver<P>) out;
        call.setOnCancelHandler(() -> { });
        return new MessageSink<>() {
            @Override
            public void onNext(T message) {
                P p = encode.apply(message);
                synchronized (out) {
                    if (!call.isCancelled()) {
                        out.onNext(p);
                    }
                }
            }

            @Override
            public void onCompleted() {
                synchronized (out) {
                    if (!call.isCancelled()) {
                        out.onCompleted();
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                synchronized (out) {
                    if (!call.isCancelled()) {
                        out.onError(toStatus(t));
                    }
                }
            }
        };
    }

    private interface Call<R> {
        R run();
    }

    private static <R> void unary(StreamObserver<R> out, Call<R> call) {
        R r;
        try {
            r = call.run();
        } catch (RuntimeException e) {
            out.onError(toStatus(e));
            return;
        }
        out.onNext(r);
        out.onCompleted();
    }

    /** The status a failure maps to: INVALID_ARGUMENT for malformed input, else the engine's error. */
    public static StatusRuntimeException toStatus(Throwable e) {
        if (e instanceof StatusRuntimeException s) {
            return s;
        }
        Status st = e instanceof IllegalArgumentException ? Status.INVALID_ARGUMENT
                : e instanceof IllegalStateException || e instanceof KernelException ? Status.FAILED_PRECONDITION
                : Status.INTERNAL;
        return st.withDescription(e.getMessage() == null ? e.toString() : e.getMessage()).withCause(e)
                .asRuntimeException();
    }
}
