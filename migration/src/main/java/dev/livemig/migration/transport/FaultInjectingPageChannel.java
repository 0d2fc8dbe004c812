package dev.livemig.migration.transport;

import dev.livemig.migration.transport.PageTransfer.HandshakeRequest;
import dev.livemig.migration.transport.PageTransfer.HandshakeResponse;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PageData;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceMessage;
import dev.livemig.migration.transport.PageTransfer.PostcopyTargetMessage;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapRequest;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapResponse;
import dev.livemig.migration.transport.PageTransfer.SwitchoverRequest;
import dev.livemig.migration.transport.PageTransfer.SwitchoverResponse;
import dev.livemig.migration.transport.PageTransfer.VerifyRequest;
import dev.livemig.migration.transport.PageTransfer.VerifyResponse;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A {@link PageChannel} decorator that injects named faults into any transport (the
 * in-memory one, or a gRPC client): the source calls this, this calls the real channel.
 *
 * <p>A {@link Rule} picks messages by {@link MessageType} and position (the n-th message
 * of that type since the channel was made, 1-based, and optionally every k-th after it)
 * and applies one {@link Fault}:
 *
 * <pre>
 *   fault        stream messages                         unary calls
 *   DROP         not forwarded                           request lost: LostMessage thrown
 *   DELAY        forwarded after delayMs (order kept)    called after delayMs
 *   REORDER      forwarded after the next one            -
 *   DUPLICATE    forwarded twice                         called twice, second answer returned
 *   CORRUPT      one data byte flipped (batch, page)     -
 *   MALFORM      first page moved outside the guest      -
 *                (batch; the target must refuse it)
 *   DISCONNECT   every open stream fails both ways, later messages vanish and calls throw
 * </pre>
 *
 * <p>Messages are counted in both directions: the target's PushPagesAck and its post-copy
 * page requests pass through here as well. A hook sees each injection as it happens, so a
 * test can, say, kill the target at the moment the connection drops.
 */
public final class FaultInjectingPageChannel implements PageChannel {
    /** What a rule matches, one per message of page_transfer.proto that crosses the channel. */
    public enum MessageType {
        HANDSHAKE, PAGE_BATCH, PUSH_ACK, SWITCHOVER, POSTCOPY_SOURCE, POSTCOPY_TARGET, RECEIVED_BITMAP, VERIFY;

        boolean unary() {
            return this == HANDSHAKE || this == SWITCHOVER || this == RECEIVED_BITMAP || this == VERIFY;
        }
    }

    /** The named injection points. */
    public enum Fault { DROP, DELAY, REORDER, DUPLICATE, CORRUPT, DISCONNECT, MALFORM }

    /**
     * Apply {@code fault} to the {@code nth} message of {@code type} (1-based) and, if
     * {@code every > 0}, to every {@code every}-th message after it.
     */
    public record Rule(MessageType type, Fault fault, long nth, long every, long delayMs) {
        public Rule {
            if (nth < 1 || every < 0 || delayMs < 0) {
                throw new IllegalArgumentException("nth >= 1, every >= 0, delayMs >= 0");
            }
            if (fault == Fault.MALFORM && type != MessageType.PAGE_BATCH) {
                throw new IllegalArgumentException("MALFORM applies to PAGE_BATCH, not to " + type);
            }
            if (type.unary() && (fault == Fault.REORDER || fault == Fault.CORRUPT)) {
                throw new IllegalArgumentException(fault + " applies to stream messages, not to " + type);
            }
            if (fault == Fault.CORRUPT && type != MessageType.PAGE_BATCH && type != MessageType.POSTCOPY_SOURCE) {
                throw new IllegalArgumentException("CORRUPT needs page data: PAGE_BATCH or POSTCOPY_SOURCE");
            }
        }

        public static Rule at(MessageType type, long nth, Fault fault) {
            return new Rule(type, fault, nth, 0, 0);
        }

        public Rule everyAfter(long k) {
            return new Rule(type, fault, nth, k, delayMs);
        }

        public Rule withDelayMs(long ms) {
            return new Rule(type, fault, nth, every, ms);
        }

        boolean matches(long n) {
            return n == nth || (every > 0 && n > nth && (n - nth) % every == 0);
        }
    }

    /** One fault as it fired: which rule, on which message (its position in its type). */
    public record Injection(Rule rule, long messageNumber) {
    }

    /** A unary call whose request or answer was lost (gRPC would say DEADLINE_EXCEEDED). */
    public static final class LostMessage extends RuntimeException {
        LostMessage(String what) {
            super(what);
        }
    }

    /** The connection is gone (gRPC would say UNAVAILABLE). */
    public static final class Disconnected extends RuntimeException {
        public Disconnected(String what) {
            super(what);
        }
    }

    private final PageChannel inner;
    private final List<Rule> rules = new CopyOnWriteArrayList<>();
    private final Map<MessageType, AtomicLong> counts = new EnumMap<>(MessageType.class);
    private final Map<Fault, AtomicLong> injected = new EnumMap<>(Fault.class);
    private final List<Consumer<Injection>> hooks = new CopyOnWriteArrayList<>();
    private final List<Stream<?>> streams = new ArrayList<>();
    private volatile boolean disconnected;

    public FaultInjectingPageChannel(PageChannel inner) {
        this.inner = inner;
        for (MessageType t : MessageType.values()) {
            counts.put(t, new AtomicLong());
        }
        for (Fault f : Fault.values()) {
            injected.put(f, new AtomicLong());
        }
    }

    public FaultInjectingPageChannel inject(Rule r) {
        rules.add(r);
        return this;
    }

    /** {@code hook} runs in the thread that carries the message, before the fault takes effect. */
    public FaultInjectingPageChannel onInjection(Consumer<Injection> hook) {
        hooks.add(hook);
        return this;
    }

    /** How often {@code f} fired. */
    public long injected(Fault f) {
        return injected.get(f).get();
    }

    /** Messages of {@code t} seen so far. */
    public long messages(MessageType t) {
        return counts.get(t).get();
    }

    public boolean isDisconnected() {
        return disconnected;
    }

    /** The first rule matching this message of {@code t}, counted now; null if none. */
    private Rule next(MessageType t) {
        long n = counts.get(t).incrementAndGet();
        for (Rule r : rules) {
            if (r.type() == t && r.matches(n)) {
                injected.get(r.fault()).incrementAndGet();
                Injection i = new Injection(r, n);
                for (Consumer<Injection> h : hooks) {
                    h.accept(i);
                }
                return r;
            }
        }
        return null;
    }

    /** Breaks every open stream in both directions; from now on nothing gets through. */
    public void disconnect() {
        List<Stream<?>> open;
        synchronized (streams) {
            disconnected = true;
            open = new ArrayList<>(streams);
            streams.clear();
        }
        for (Stream<?> s : open) {
            s.fail(new Disconnected("connection lost (injected)"));
        }
    }

    // ---- unary calls ------------------------------------------------------------------

    private <T> T unary(MessageType t, Supplier<T> call) {
        if (disconnected) {
            throw new Disconnected(t + ": not connected");
        }
        Rule r = next(t);
        if (r == null) {
            return call.get();
        }
        switch (r.fault()) {
            case DROP -> throw new LostMessage(t + " lost (injected)");
            case DELAY -> sleep(r.delayMs());
            case DISCONNECT -> {
                disconnect();
                throw new Disconnected(t + ": connection lost (injected)");
            }
            case DUPLICATE -> call.get();
            default -> throw new IllegalStateException("unreachable: " + r);
        }
        return call.get();
    }

    @Override
    public HandshakeResponse handshake(HandshakeRequest request) {
        return unary(MessageType.HANDSHAKE, () -> inner.handshake(request));
    }

    @Override
    public SwitchoverResponse switchover(SwitchoverRequest request) {
        return unary(MessageType.SWITCHOVER, () -> inner.switchover(request));
    }

    @Override
    public ReceivedBitmapResponse receivedBitmap(ReceivedBitmapRequest request) {
        return unary(MessageType.RECEIVED_BITMAP, () -> inner.receivedBitmap(request));
    }

    @Override
    public VerifyResponse verify(VerifyRequest request) {
        return unary(MessageType.VERIFY, () -> inner.verify(request));
    }

    /** Not an injection point: a Sync only measures, and a lost one is just a missing measurement. */
    @Override
    public PageTransfer.SyncResponse sync(PageTransfer.SyncRequest request) {
        return inner.sync(request);
    }

    // ---- streams ------------------------------------------------------------------------

    @Override
    public MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack) {
        Stream<PushPagesAck> back = open(new Stream<>(MessageType.PUSH_ACK, ack, null));
        Stream<PageBatch> out = open(new Stream<>(MessageType.PAGE_BATCH, null, FaultInjectingPageChannel::corrupt));
        out.downstream = inner.pushPages(back);
        return out;
    }

    @Override
    public MessageSink<PostcopySourceMessage> postcopy(MessageSink<PostcopyTargetMessage> fromTarget) {
        Stream<PostcopyTargetMessage> back = open(new Stream<>(MessageType.POSTCOPY_TARGET, fromTarget, null));
        Stream<PostcopySourceMessage> out = open(new Stream<>(MessageType.POSTCOPY_SOURCE, null,
                m -> m instanceof PageData d ? corrupt(d) : m));
        out.downstream = inner.postcopy(back);
        return out;
    }

    private <T> Stream<T> open(Stream<T> s) {
        synchronized (streams) {
            if (!disconnected) {
                streams.add(s);
            }
        }
        return s;
    }

    /** One direction of a stream, with the faults of its message type. */
    private final class Stream<T> implements MessageSink<T> {
        private final MessageType type;
        private final java.util.function.UnaryOperator<T> corrupter;
        volatile MessageSink<T> downstream;
        private T held;
        private boolean done;

        Stream(MessageType type, MessageSink<T> downstream, java.util.function.UnaryOperator<T> corrupter) {
            this.type = type;
            this.downstream = downstream;
            this.corrupter = corrupter;
        }

        @Override
        @SuppressWarnings("unchecked")
        public void onNext(T m) {
            synchronized (this) {
                if (done || disconnected) {
                    return; // like a cancelled call: the message goes nowhere
                }
            }
            Rule r = next(type);
            Fault f = r == null ? null : r.fault();
            if (f == Fault.DISCONNECT) {
                disconnect();
                return;
            }
            if (f == Fault.DROP) {
                return;
            }
            if (f == Fault.DELAY) {
                sleep(r.delayMs());
            }
            if (f == Fault.CORRUPT) {
                m = corrupter.apply(m);
            }
            if (f == Fault.MALFORM) {
                m = (T) malform((PageBatch) m);
            }
            // a duplicate is bytes of its own, as on a wire: the sender may reuse the batch's
            // array once the first copy is sent (BatchBuffers)
            T twice = f == Fault.DUPLICATE ? duplicate(m) : null;
            T before;
            synchronized (this) {
                if (f == Fault.REORDER && held == null) {
                    held = m;
                    return;
                }
                before = held;
                held = null;
            }
            deliver(m);
            if (before != null) {
                deliver(before);
            }
            if (twice != null) {
                deliver(twice);
            }
        }

        private void deliver(T m) {
            if (!disconnected) {
                downstream.onNext(m);
            }
        }

        @Override
        public void onCompleted() {
            T h;
            synchronized (this) {
                if (done || disconnected) {
                    return;
                }
                done = true;
                h = held;
                held = null;
            }
            if (h != null) {
                deliver(h);
            }
            forget();
            downstream.onCompleted();
        }

        @Override
        public void onError(Throwable t) {
            synchronized (this) {
                if (done) {
                    return;
                }
                done = true;
            }
            forget();
            downstream.onError(t);
        }

        private void forget() {
            synchronized (streams) {
                streams.remove(this);
            }
        }

        /** The connection broke: this direction's receiver learns it, as gRPC tells both ends. */
        void fail(Throwable t) {
            synchronized (this) {
                if (done) {
                    return;
                }
                done = true;
            }
            MessageSink<T> d = downstream;
            if (d != null) {
                d.onError(t);
            }
        }
    }

    // ---- corruption -------------------------------------------------------------------------

    /** Flips one byte in the first page that carries data (a batch without data passes intact). */
    static PageBatch corrupt(PageBatch b) {
        if (b.dataLength() == 0) {
            return b;
        }
        byte[] data = java.util.Arrays.copyOfRange(b.data(), b.dataOffset(), b.dataOffset() + b.dataLength());
        data[data.length / 2 % b.pageSizeBytes()] ^= 0x40;
        return new PageBatch(b.migrationId(), b.round(), b.sequence(), b.pageSizeBytes(), b.addresses(), b.flags(),
                b.crc32c(), data, b.roundComplete());
    }

    /** Moves the batch's first page to address 0, which no guest maps: a batch any target must refuse. */
    static PageBatch malform(PageBatch b) {
        if (b.pages() == 0) {
            return b;
        }
        long[] addrs = b.addresses().clone();
        addrs[0] = 0;
        return new PageBatch(b.migrationId(), b.round(), b.sequence(), b.pageSizeBytes(), addrs, b.flags(),
                b.crc32c(), b.data(), b.roundComplete(), b.dataOffset(), b.dataLength());
    }

    /** A page batch with its page data in an array of its own; any other message as it is. */
    @SuppressWarnings("unchecked")
    static <T> T duplicate(T m) {
        if (!(m instanceof PageBatch b)) {
            return m;
        }
        byte[] data = java.util.Arrays.copyOfRange(b.data(), b.dataOffset(), b.dataOffset() + b.dataLength());
        return (T) new PageBatch(b.migrationId(), b.round(), b.sequence(), b.pageSizeBytes(), b.addresses(),
                b.flags(), b.crc32c(), data, b.roundComplete());
    }

    static PageData corrupt(PageData d) {
        if (d.data().length == 0) {
            return d;
        }
        byte[] data = d.data().clone();
        data[data.length / 2] ^= 0x40;
        return new PageData(d.requestId(), d.address(), d.flags(), d.crc32c(), d.pageSizeBytes(), data);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        inner.close();
    }
}
