package dev.livemig.migctl;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

/** Opens a channel to a node; tests substitute an in-process transport. */
@FunctionalInterface
public interface ChannelFactory {
    /** Plaintext HTTP/2 over Netty, as the nodes serve it. */
    ChannelFactory NETTY = address -> NettyChannelBuilder.forAddress(address.host(), address.port())
            .usePlaintext().build();

    ManagedChannel open(HostPort address);
}
