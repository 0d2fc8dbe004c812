package dev.livemig.target;

import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.proto.v1.PageTransferGrpc;
import dev.livemig.target.grpc.OwnEventLoop;
import dev.livemig.target.grpc.PageTransferService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.grpc.services.HealthStatusManager;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A target node: the PageTransfer service over the incoming migrations it hosts, plus
 * grpc.health.v1 and server reflection, on whatever transport the given
 * {@link ServerBuilder} builds (Netty in {@link TargetNodeMain}, in-process in tests).
 */
public final class TargetNode implements AutoCloseable {
    /**
     * Largest message a target accepts: a PageBatch of 256 hugetlb pages (512 MiB of data
     * plus metadata) and the Verify request of a large guest (4 bytes and a tag per page)
     * both exceed gRPC's 4 MiB default.
     */
    public static final int MAX_INBOUND_MESSAGE_BYTES = 544 << 20;

    /**
     * HTTP/2 flow-control window of a Netty target: twice the PushPages batches the service
     * requests ahead (PageTransferService.PUSH_PREFETCH_BATCHES, about 1 MiB each), so that
     * the source can keep them in flight; gRPC's 1 MiB default holds less than one batch.
     */
    public static final int PUSH_FLOW_CONTROL_WINDOW_BYTES = 8 << 20;

    /** Netty's switch for direct buffers it allocates and frees itself (grpc-netty-shaded relocates the name). */
    static final String NETTY_REFLECTION_PROPERTY = "io.grpc.netty.shaded.io.netty.tryReflectionSetAccessible";

    /**
     * Called first thing by a node's main, before any Netty class loads: lets Netty allocate
     * its direct buffers with {@code Unsafe.allocateMemory} and free them on release, instead
     * of through {@code ByteBuffer.allocateDirect}, which zeroes every new buffer. Its pool
     * drops chunks that empty, so at page-stream rates the event loops kept allocating and
     * zeroing fresh 2 MiB chunks: about a sixth of their CPU time in a round-0 profile. It
     * takes effect only where {@code java.nio} and {@code jdk.internal.misc} are open to it
     * (the node jars' Add-Opens manifest entries, or --add-opens); elsewhere Netty keeps its
     * zeroing allocator. A value set on the command line wins.
     */
    public static void allowNettyNoCleanerBuffers() {
        if (System.getProperty(NETTY_REFLECTION_PROPERTY) == null) {
            System.setProperty(NETTY_REFLECTION_PROPERTY, "true");
        }
    }

    private final IncomingMigrations migrations;
    private final HealthStatusManager health = new HealthStatusManager();
    private final PageTransferService service;
    private final Server server;
    /** The post-copy listener and its event loop, if {@link #withPostcopyListener}; else null. */
    private Server postcopyServer;
    private EventLoopGroup postcopyLoop;

    /** {@code factory} makes the engine of each new incoming migration. */
    public TargetNode(ServerBuilder<?> builder, Supplier<IncomingMigration> factory) {
        this.migrations = new IncomingMigrations(factory);
        this.service = new PageTransferService(migrations);
        this.server = builder
                .addService(ServerInterceptors.intercept(service.bindAliasing(),
                        PageTransferService.migrationIdInterceptor()))
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance())
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES)
                .build();
    }

    /**
     * The executor of a call: the post-copy priority channel runs on the transport thread
     * that read its messages (placing one page and waking its vCPU is short and never waits
     * for the network), saving a thread wake-up per fault; every other call gets gRPC's
     * executor (null), since PushPages installs whole batches and Switchover waits for them.
     * For a server on a network transport ({@code ServerBuilder.callExecutor}): an in-process
     * transport would run the handler on the sending thread, inside the sender's locks.
     */
    public static <Q, R> java.util.concurrent.Executor callExecutor(io.grpc.ServerCall<Q, R> call,
                                                                    io.grpc.Metadata headers) {
        return call.getMethodDescriptor().getFullMethodName().equals(PageTransferGrpc.getPostcopyMethod()
                .getFullMethodName()) ? Runnable::run : null;
    }

    /**
     * Also serves the Postcopy call on a second port of {@code host} (any free one, announced
     * in each handshake) whose one event loop, accepting and serving, no other connection
     * uses: sources that dial it get their page requests read, and the answers installed, by
     * a thread that does not also deframe the background push (the main port's loops are
     * shared round-robin by every connection). Call before {@link #start}; the main port
     * still serves Postcopy for sources that do not dial the announced port.
     * {@code interceptors} wrap the listener's calls (tests look at where they run).
     */
    public TargetNode withPostcopyListener(String host, ServerInterceptor... interceptors) {
        if (postcopyServer != null) {
            throw new IllegalStateException("post-copy listener already added");
        }
        EventLoopGroup loop = OwnEventLoop.group(POSTCOPY_LOOP_THREAD);
        postcopyLoop = loop;
        postcopyServer = NettyServerBuilder.forAddress(new InetSocketAddress(host, 0))
                .bossEventLoopGroup(loop).workerEventLoopGroup(loop).channelType(OwnEventLoop.serverChannel())
                .callExecutor(TargetNode::callExecutor)
                .addService(ServerInterceptors.intercept(service.bindPostcopyOnly(), interceptors))
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES)
                .build();
        return this;
    }

    /** Name of the post-copy listener's event loop thread (a prefix: Netty adds the pool's numbers). */
    public static final String POSTCOPY_LOOP_THREAD = "postcopy-listener";

    /** The post-copy listener's port, or 0 without one. */
    public int postcopyPort() {
        return postcopyServer == null ? 0 : postcopyServer.getPort();
    }

    public TargetNode start() throws IOException {
        if (postcopyServer != null) {
            postcopyServer.start();
            service.announcePostcopyPort(postcopyServer.getPort());
        }
        try {
            server.start();
        } catch (IOException | RuntimeException e) {
            if (postcopyServer != null) { // the main port is taken: leave no listener thread behind
                postcopyServer.shutdownNow();
                OwnEventLoop.shutdown(postcopyLoop);
            }
            throw e;
        }
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus(PageTransferGrpc.SERVICE_NAME, ServingStatus.SERVING);
        return this;
    }

    /** The port the server listens on (-1 for in-process). */
    public int port() {
        return server.getPort();
    }

    public IncomingMigrations migrations() {
        return migrations;
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    /** Stops serving (the hosted guests keep running; close {@link #migrations()} to stop them). */
    @Override
    public void close() {
        health.enterTerminalState();
        stop(server);
        if (postcopyServer != null) {
            stop(postcopyServer);
            OwnEventLoop.shutdown(postcopyLoop); // not the server's to end: it was given the group
        }
    }

    private static void stop(Server s) {
        s.shutdown();
        try {
            if (!s.awaitTermination(5, TimeUnit.SECONDS)) {
                s.shutdownNow();
            }
        } catch (InterruptedException e) {
            s.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
