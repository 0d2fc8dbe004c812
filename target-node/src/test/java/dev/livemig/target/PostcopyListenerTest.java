package dev.livemig.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.proto.v1.HandshakeRequest;
import dev.livemig.proto.v1.PageTransferGrpc;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The target node's post-copy listener: a port of its own that serves the Postcopy method
 * and nothing else, and whose event loop thread goes with the node (or with a start that
 * failed). No migration is needed for these: the factory is never called.
 */
class PostcopyListenerTest {
    private static TargetNode node(int port) {
        return new TargetNode(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                .callExecutor(TargetNode::callExecutor), () -> {
                    throw new AssertionError("no migration in this test");
                }).withPostcopyListener("127.0.0.1");
    }

    private static boolean listenerThreadAlive() {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.isAlive() && t.getName().startsWith(TargetNode.POSTCOPY_LOOP_THREAD));
    }

    private static void awaitNoListenerThread() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (listenerThreadAlive()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the listener's event loop thread outlived its node");
            }
            Thread.sleep(10);
        }
    }

    @Test
    void theListenerServesPostcopyOnly_onAnotherPort_andEndsWithTheNode() throws Exception {
        TargetNode node = node(0).start();
        ManagedChannel ch = Grpc.newChannelBuilder("127.0.0.1:" + node.postcopyPort(),
                InsecureChannelCredentials.create()).build();
        try {
            assertTrue(node.postcopyPort() > 0);
            assertNotEquals(node.port(), node.postcopyPort());
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> PageTransferGrpc
                    .newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .handshake(HandshakeRequest.newBuilder().setMigrationId("m").build()));
            assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode(), e.toString());
            assertTrue(listenerThreadAlive());
        } finally {
            ch.shutdownNow();
            node.close();
        }
        awaitNoListenerThread();
    }

    @Test
    void aMainPortThatIsTaken_failsTheStart_andLeavesNoListenerThread() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            TargetNode node = node(taken.getLocalPort());
            assertThrows(IOException.class, node::start);
        }
        awaitNoListenerThread();
    }
}
