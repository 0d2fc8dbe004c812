package dev.livemig.target;

import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.proto.v1.PageTransferGrpc;
import dev.livemig.target.grpc.PageTransferService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.grpc.services.HealthStatusManager;
import java.io.IOException;
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
    private final Server server;

    /** {@code factory} makes the engine of each new incoming migration. */
    public TargetNode(ServerBuilder<?> builder, Supplier<IncomingMigration> factory) {
        this.migrations = new IncomingMigrations(factory);
        this.server = builder
                .addService(ServerInterceptors.intercept(new PageTransferService(migrations).bindAliasing(),
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

    public TargetNode start() throws IOException {
        server.start();
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
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
