package dev.livemig.migctl;

import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationControlGrpc.MigrationControlBlockingStub;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthGrpc;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * One node as migctl sees it: a channel and the generated MigrationControl stubs. Every
 * call goes through {@link #call}, which turns a failed RPC into a one-line
 * {@link NodeException} naming the node ("cannot reach source node at host:port").
 */
public final class NodeClient implements AutoCloseable {
    /** Unary calls; Watch streams have no deadline (a migration may run for minutes). */
    static final long DEADLINE_S = 60;

    private final String role;
    private final HostPort address;
    private final ManagedChannel channel;

    public NodeClient(String role, HostPort address, ManagedChannel channel) {
        this.role = role;
        this.address = address;
        this.channel = channel;
    }

    public HostPort address() {
        return address;
    }

    /** A unary MigrationControl call named {@code rpc} (for the error message). */
    public <T> T call(String rpc, Function<MigrationControlBlockingStub, T> call) {
        try {
            return call.apply(MigrationControlGrpc.newBlockingStub(channel).withDeadlineAfter(DEADLINE_S, TimeUnit.SECONDS));
        } catch (StatusRuntimeException e) {
            throw NodeException.of(role, address, rpc, e);
        }
    }

    /** A server-streaming MigrationControl call: each message goes to {@code sink} until the stream ends. */
    public <T> void stream(String rpc, Function<MigrationControlBlockingStub, Iterator<T>> call, Consumer<T> sink) {
        try {
            Iterator<T> it = call.apply(MigrationControlGrpc.newBlockingStub(channel));
            while (it.hasNext()) {
                sink.accept(it.next());
            }
        } catch (StatusRuntimeException e) {
            throw NodeException.of(role, address, rpc, e);
        }
    }

    /** A grpc.health.v1.Health call. */
    public <T> T health(Function<HealthGrpc.HealthBlockingStub, T> call) {
        try {
            return call.apply(HealthGrpc.newBlockingStub(channel).withDeadlineAfter(DEADLINE_S, TimeUnit.SECONDS));
        } catch (StatusRuntimeException e) {
            throw NodeException.of(role, address, "grpc.health.v1.Health/Check", e);
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
