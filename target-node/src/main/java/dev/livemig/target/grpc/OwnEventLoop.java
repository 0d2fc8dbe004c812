package dev.livemig.target.grpc;

import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.ServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.socket.SocketChannel;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import java.util.concurrent.TimeUnit;

/**
 * A one-thread Netty event loop group for the post-copy priority connection, on either
 * side: gRPC's default groups are shared by every connection of the process and assign
 * each new connection a loop round-robin, so the Postcopy connection could get the loop
 * that also reads and deframes the background push (1 MiB batches) and its page requests
 * would wait behind them. Native epoll where netty-shaded's library loads, NIO elsewhere;
 * the socket types match the group.
 */
public final class OwnEventLoop {
    private static final boolean EPOLL = Epoll.isAvailable();

    private OwnEventLoop() {
    }

    /** A group of one daemon thread named {@code name-<pool>-1}; whoever makes it shuts it down. */
    public static EventLoopGroup group(String name) {
        DefaultThreadFactory threads = new DefaultThreadFactory(name, true, Thread.MAX_PRIORITY);
        return EPOLL ? new EpollEventLoopGroup(1, threads) : new NioEventLoopGroup(1, threads);
    }

    public static Class<? extends SocketChannel> socketChannel() {
        return EPOLL ? EpollSocketChannel.class : NioSocketChannel.class;
    }

    public static Class<? extends ServerSocketChannel> serverChannel() {
        return EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    /**
     * Ends the group at once (no quiet period): called once the connection on it has
     * terminated, so there is nothing left to drain.
     */
    public static void shutdown(EventLoopGroup group) {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
