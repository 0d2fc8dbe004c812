package dev.livemig.source.grpc;

import io.grpc.Channel;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import java.util.function.Function;

/**
 * The connection a migration's Postcopy call goes over (QEMU's postcopy-preempt channel):
 * always one of its own, dialed with the node's priority dialer (an event loop of its own
 * on the source, see SourceNode#dialOnOwnLoop). Where to: the port of the target's
 * post-copy listener when the handshake announced one (so that the target serves it on an
 * event loop of its own too), dialed as soon as it is announced so that it is up before
 * post-copy starts; else the target's address, as the page stream.
 *
 * <p>A target behind a relay that forwards only its main port announces a port the source
 * cannot reach: a listener connection that fails before it was ever up (refused before
 * post-copy starts, or never up when a recovery asks for a new one) makes this fall back
 * to the target's address for the rest of the migration. Recovery after a broken
 * stream asks for a fresh connection; the broken one is shut down.
 */
final class PostcopyConnection implements GrpcPageChannel.PostcopyRoute {
    private final String targetAddress;
    private final Function<String, ManagedChannel> dialer;
    /** The listener's address, from the handshake; null: none announced (or not a host:port we can rewrite). */
    private String listenerAddress;
    /** Dialed at the announcement, not yet used by a call. */
    private ManagedChannel warm;
    /** The connection of the latest priority stream. */
    private ManagedChannel current;
    /** {@link #current} goes to the listener. */
    private boolean currentOnListener;
    /** A connection to the listener has been up: its port is reachable from here. */
    private volatile boolean listenerWorked;
    /** A connection to the listener failed before it was ever up: the main address from now on. */
    private boolean listenerFailed;
    private boolean closed;

    PostcopyConnection(String targetAddress, Function<String, ManagedChannel> dialer) {
        this.targetAddress = targetAddress;
        this.dialer = dialer;
    }

    @Override
    public synchronized void announced(int port) {
        String a = withPort(targetAddress, port);
        if (closed || a == null || a.equals(listenerAddress)) {
            return;
        }
        listenerAddress = a;
        if (warm != null) {
            warm.shutdownNow();
        }
        warm = dialListener();
    }

    @Override
    public synchronized Channel channel() {
        if (closed) {
            throw new IllegalStateException("the migration's connections are shut down");
        }
        if (current != null) {
            if (currentOnListener && current.getState(false) == ConnectivityState.READY) {
                // up now, whether or not the state watcher (run on gRPC's executor) has said so yet
                listenerWorked = true;
            }
            current.shutdownNow(); // a new priority stream: the previous one broke
            current = null;
            if (currentOnListener && !listenerWorked) {
                // its connection never came up (a relay that drops, rather than refuses, other ports)
                listenerFailed = true;
            }
        }
        ManagedChannel ch = null;
        if (listenerAddress != null && !listenerFailed) {
            ch = warm != null ? warm : dialListener();
            warm = null;
            ConnectivityState s = ch.getState(false);
            if (s == ConnectivityState.READY) {
                listenerWorked = true;
            }
            if (!listenerWorked && (s == ConnectivityState.TRANSIENT_FAILURE || s == ConnectivityState.SHUTDOWN)) {
                listenerFailed = true;
                ch.shutdownNow();
                ch = null;
            }
        }
        currentOnListener = ch != null;
        current = ch != null ? ch : dialer.apply(targetAddress);
        return current;
    }

    /** The migration ended: its priority connections go (gracefully: a call in flight finishes). */
    synchronized void shutdown() {
        closed = true;
        if (warm != null) {
            warm.shutdown();
        }
        if (current != null) {
            current.shutdown();
        }
    }

    private ManagedChannel dialListener() {
        ManagedChannel ch = dialer.apply(listenerAddress);
        ch.getState(true); // connect now, not at the first call (which comes with the guest paused)
        watchUntilReady(ch, ConnectivityState.IDLE);
        return ch;
    }

    private void watchUntilReady(ManagedChannel ch, ConnectivityState seen) {
        ch.notifyWhenStateChanged(seen, () -> {
            ConnectivityState s = ch.getState(false);
            if (s == ConnectivityState.READY) {
                listenerWorked = true;
            } else if (s != ConnectivityState.SHUTDOWN) {
                watchUntilReady(ch, s);
            }
        });
    }

    /**
     * {@code address} with its port replaced by {@code port}: {@code host:port},
     * {@code [v6]:port} or {@code scheme:///host:port}; null for one without a numeric port
     * at its end (then the listener cannot be named and the main address serves).
     */
    static String withPort(String address, int port) {
        if (port <= 0 || port > 0xFFFF) {
            return null;
        }
        int colon = address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1 || address.charAt(colon - 1) == ':') {
            return null;
        }
        for (int i = colon + 1; i < address.length(); i++) {
            if (!Character.isDigit(address.charAt(i))) {
                return null;
            }
        }
        String host = address.substring(0, colon);
        if (host.isEmpty() || host.endsWith("/")) {
            return null;
        }
        return host + ":" + port;
    }
}
