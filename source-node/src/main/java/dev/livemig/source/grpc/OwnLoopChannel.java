package dev.livemig.source.grpc;

import dev.livemig.target.TargetNode;
import dev.livemig.target.grpc.OwnEventLoop;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ConnectivityState;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A plaintext Netty channel on a one-thread event loop group of its own, which it ends once
 * the channel has terminated: the source's post-copy priority connection, whose page
 * requests would otherwise be read, and answered, by whichever of gRPC's shared event
 * loops the connection was assigned, possibly the one that writes the background push.
 * gRPC does not own a group it is given, hence this wrapper.
 */
public final class OwnLoopChannel extends ManagedChannel {
    /** The loop thread's name (a prefix: Netty adds the pool's numbers); "postcopy-" makes it an engine thread in GetNodeStats. */
    public static final String LOOP_THREAD = "postcopy-net";

    private final ManagedChannel delegate;
    private final EventLoopGroup loop;
    private final AtomicBoolean ending = new AtomicBoolean();

    private OwnLoopChannel(ManagedChannel delegate, EventLoopGroup loop) {
        this.delegate = delegate;
        this.loop = loop;
    }

    /** Dials {@code target} (gRPC target syntax) as SourceNode's dialer does, on a loop of its own. */
    public static ManagedChannel dial(String target) {
        EventLoopGroup loop = OwnEventLoop.group(LOOP_THREAD);
        try {
            return new OwnLoopChannel(NettyChannelBuilder.forTarget(target, InsecureChannelCredentials.create())
                    .eventLoopGroup(loop).channelType(OwnEventLoop.socketChannel())
                    .maxInboundMessageSize(TargetNode.MAX_INBOUND_MESSAGE_BYTES).build(), loop);
        } catch (RuntimeException e) {
            OwnEventLoop.shutdown(loop); // a target the builder refuses: no thread left behind
            throw e;
        }
    }

    /**
     * Once shut down, the loop checks every 10 ms whether the channel has terminated and
     * then ends itself: no thread waits for it, and no task of the channel's finds the loop
     * gone (its timers run on the loop too).
     */
    private void endLoopWhenTerminated() {
        if (ending.compareAndSet(false, true)) {
            loop.scheduleAtFixedRate(() -> {
                if (delegate.isTerminated()) {
                    OwnEventLoop.shutdown(loop);
                }
            }, 0, 10, TimeUnit.MILLISECONDS);
        }
    }

    @Override
    public ManagedChannel shutdown() {
        delegate.shutdown();
        endLoopWhenTerminated();
        return this;
    }

    @Override
    public ManagedChannel shutdownNow() {
        delegate.shutdownNow();
        endLoopWhenTerminated();
        return this;
    }

    @Override
    public boolean isShutdown() {
        return delegate.isShutdown();
    }

    /** The channel and its loop have both ended. */
    @Override
    public boolean isTerminated() {
        return delegate.isTerminated() && loop.isTerminated();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        return delegate.awaitTermination(timeout, unit)
                && loop.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    @Override
    public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
        return delegate.newCall(method, options);
    }

    @Override
    public String authority() {
        return delegate.authority();
    }

    @Override
    public ConnectivityState getState(boolean requestConnection) {
        return delegate.getState(requestConnection);
    }

    @Override
    public void notifyWhenStateChanged(ConnectivityState source, Runnable callback) {
        delegate.notifyWhenStateChanged(source, callback);
    }

    @Override
    public void resetConnectBackoff() {
        delegate.resetConnectBackoff();
    }

    @Override
    public void enterIdle() {
        delegate.enterIdle();
    }
}
