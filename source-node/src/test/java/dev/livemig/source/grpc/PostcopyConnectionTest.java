package dev.livemig.source.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.source.SourceNode;
import io.grpc.Channel;
import io.grpc.ConnectivityState;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Where the source sends its Postcopy call: the target's post-copy listener when the
 * handshake announced one and it can be reached, else the target's address; over real
 * loopback connections (a server with no service is enough to connect to).
 */
class PostcopyConnectionTest {
    private final List<String> dialed = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final List<Server> servers = new ArrayList<>();

    private ManagedChannel dial(String address) {
        dialed.add(address);
        ManagedChannel ch = SourceNode.dialOverNetty(address);
        channels.add(ch);
        return ch;
    }

    private int serverPort() throws Exception {
        Server s = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()).build().start();
        servers.add(s);
        return s.getPort();
    }

    /** A port nothing listens on (bound and released: connections to it are refused). */
    private static int refusedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @AfterEach
    void close() throws Exception {
        for (ManagedChannel ch : channels) {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        for (Server s : servers) {
            s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static void awaitState(ManagedChannel ch, ConnectivityState want) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (ch.getState(false) != want) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("channel never " + want + ": " + ch.getState(false));
            }
            Thread.sleep(10);
        }
    }

    @Test
    void theAnnouncedPortReplacesThePortOfTheTargetAddress() {
        assertEquals("127.0.0.1:4242", PostcopyConnection.withPort("127.0.0.1:50052", 4242));
        assertEquals("[::1]:4242", PostcopyConnection.withPort("[::1]:50052", 4242));
        assertEquals("dns:///node-b:4242", PostcopyConnection.withPort("dns:///node-b:50052", 4242));
        assertNull(PostcopyConnection.withPort("node-b", 4242), "no port to replace");
        assertNull(PostcopyConnection.withPort("::1", 4242), "an unbracketed IPv6 address has no port");
        assertNull(PostcopyConnection.withPort("node-b:http", 4242), "not a numeric port");
        assertNull(PostcopyConnection.withPort("127.0.0.1:50052", 0), "nothing announced");
        assertNull(PostcopyConnection.withPort("127.0.0.1:50052", 70000), "not a port");
    }

    @Test
    void withoutAnAnnouncementThePriorityStreamGoesToTheTargetAddress_onAConnectionOfItsOwnEachTime() {
        PostcopyConnection c = new PostcopyConnection("127.0.0.1:50052", this::dial);
        Channel first = c.channel();
        assertEquals(List.of("127.0.0.1:50052"), dialed);
        Channel again = c.channel(); // a recovery: a fresh connection, the broken one ended
        assertEquals(List.of("127.0.0.1:50052", "127.0.0.1:50052"), dialed);
        assertTrue(((ManagedChannel) first).isShutdown());
        assertTrue(!((ManagedChannel) again).isShutdown());
    }

    @Test
    void anAnnouncedListenerIsDialedAtOnce_andCarriesThePriorityStream() throws Exception {
        int listener = serverPort();
        PostcopyConnection c = new PostcopyConnection("127.0.0.1:" + refusedPort(), this::dial);
        c.announced(listener);
        assertEquals(List.of("127.0.0.1:" + listener), dialed, "dialed at the announcement");
        ManagedChannel warm = channels.get(0);
        awaitState(warm, ConnectivityState.READY); // connected before any call asked for it
        assertSame(warm, c.channel());
        ManagedChannel recovered = (ManagedChannel) c.channel();
        assertEquals(List.of("127.0.0.1:" + listener, "127.0.0.1:" + listener), dialed,
                "after a recovery, the listener again");
        assertTrue(warm.isShutdown());
        c.shutdown();
        assertTrue(recovered.isShutdown());
    }

    @Test
    void aListenerThatCannotBeReached_theTargetAddressServesForTheRestOfTheMigration() throws Exception {
        int target = serverPort();
        int unreachable = refusedPort(); // as for a target behind a relay that forwards only its main port
        PostcopyConnection c = new PostcopyConnection("127.0.0.1:" + target, this::dial);
        c.announced(unreachable);
        awaitState(channels.get(0), ConnectivityState.TRANSIENT_FAILURE);
        c.channel();
        assertEquals(List.of("127.0.0.1:" + unreachable, "127.0.0.1:" + target), dialed);
        assertTrue(channels.get(0).isShutdown(), "the refused connection is given up");
        c.channel();
        assertEquals("127.0.0.1:" + target, dialed.get(dialed.size() - 1), "not the listener again");
        assertEquals(3, dialed.size());
    }

    @Test
    void aListenerConnectionThatNeverCameUp_aRecoveryGoesToTheTargetAddress() throws Exception {
        int target = serverPort();
        int unreachable = refusedPort();
        PostcopyConnection c = new PostcopyConnection("127.0.0.1:" + target, this::dial);
        c.announced(unreachable);
        c.channel(); // at once: the listener's connection may still be trying (a relay that drops would keep it so)
        ManagedChannel first = channels.get(channels.size() - 1);
        c.channel(); // the priority stream broke: a recovery
        assertTrue(first.isShutdown());
        assertEquals("127.0.0.1:" + target, dialed.get(dialed.size() - 1), "not the listener again: " + dialed);
        c.channel();
        assertEquals("127.0.0.1:" + target, dialed.get(dialed.size() - 1), "nor later: " + dialed);
    }
}
