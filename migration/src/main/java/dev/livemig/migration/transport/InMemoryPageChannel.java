package dev.livemig.migration.transport;

import dev.livemig.migration.transport.PageTransfer.HandshakeRequest;
import dev.livemig.migration.transport.PageTransfer.HandshakeResponse;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
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
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.function.Consumer;

/**
 * Two engines in one JVM: the source calls this, the target's {@link PageChannel} (an
 * {@code IncomingMigration}) serves it. Unary calls are direct calls; each stream
 * direction is a bounded queue drained by its own thread, in order, like one HTTP/2
 * stream. The page stream's queue gives flow control (a slow target slows the source
 * down, so the measured bandwidth is the target's install rate), and the post-copy
 * directions have their own threads, so a page request never waits behind a background
 * batch.
 */
public final class InMemoryPageChannel implements PageChannel {
    /** Batches in flight on the page stream (a window, as HTTP/2 flow control gives). */
    public static final int PUSH_WINDOW = 16;

    private final PageChannel target;
    private final List<Pipe<?>> pipes = new ArrayList<>();

    public InMemoryPageChannel(PageChannel target) {
        this.target = target;
    }

    @Override
    public HandshakeResponse handshake(HandshakeRequest request) {
        return target.handshake(request);
    }

    @Override
    public MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack) {
        // a target that fails on a batch ends the call, and the source hears it on the ack,
        // as a gRPC client hears a server's error on its response observer
        MessageSink<PushPagesAck> once = new OnceSink<>(ack);
        return pipe("push", PUSH_WINDOW, target.pushPages(once), once::onError);
    }

    @Override
    public SwitchoverResponse switchover(SwitchoverRequest request) {
        return target.switchover(request);
    }

    @Override
    public MessageSink<PostcopySourceMessage> postcopy(MessageSink<PostcopyTargetMessage> fromTarget) {
        MessageSink<PostcopyTargetMessage> back = pipe("postcopy-to-source", 1024, fromTarget, null);
        return pipe("postcopy-to-target", 1024, target.postcopy(back), null);
    }

    @Override
    public ReceivedBitmapResponse receivedBitmap(ReceivedBitmapRequest request) {
        return target.receivedBitmap(request);
    }

    @Override
    public VerifyResponse verify(VerifyRequest request) {
        return target.verify(request);
    }

    @Override
    public PageTransfer.SyncResponse sync(PageTransfer.SyncRequest request) {
        return target.sync(request);
    }

    private synchronized <T> MessageSink<T> pipe(String name, int capacity, MessageSink<T> downstream,
                                                 Consumer<Throwable> onDownstreamFailure) {
        Pipe<T> p = new Pipe<>(name, capacity, downstream, onDownstreamFailure);
        pipes.add(p);
        return p;
    }

    /** Stops the delivery threads (messages still queued are dropped). */
    @Override
    public synchronized void close() {
        for (Pipe<?> p : pipes) {
            p.thread.interrupt();
        }
    }

    /** Passes on at most one ending (completion or error), as a stream observer allows. */
    private static final class OnceSink<T> implements MessageSink<T> {
        private final MessageSink<T> inner;
        private boolean ended;

        OnceSink(MessageSink<T> inner) {
            this.inner = inner;
        }

        @Override
        public synchronized void onNext(T message) {
            if (!ended) {
                inner.onNext(message);
            }
        }

        @Override
        public synchronized void onCompleted() {
            if (!ended) {
                ended = true;
                inner.onCompleted();
            }
        }

        @Override
        public synchronized void onError(Throwable t) {
            if (!ended) {
                ended = true;
                inner.onError(t);
            }
        }
    }

    /** One stream direction: a queue and the thread that delivers it downstream. */
    private static final class Pipe<T> implements MessageSink<T> {
        private static final Object COMPLETED = new Object();
        private final BlockingQueue<Object> queue;
        private final MessageSink<T> downstream;
        private final Consumer<Throwable> onDownstreamFailure;
        final Thread thread;
        private volatile boolean closed;

        private record Failure(Throwable t) {
        }

        Pipe(String name, int capacity, MessageSink<T> downstream, Consumer<Throwable> onDownstreamFailure) {
            this.queue = new ArrayBlockingQueue<>(capacity);
            this.downstream = downstream;
            this.onDownstreamFailure = onDownstreamFailure;
            this.thread = new Thread(this::deliver, "inmem-" + name);
            thread.setDaemon(true);
            thread.start();
        }

        @Override
        public void onNext(T message) {
            put(message);
        }

        @Override
        public void onCompleted() {
            put(COMPLETED);
        }

        @Override
        public void onError(Throwable t) {
            put(new Failure(t));
        }

        private void put(Object o) {
            if (closed) {
                return;
            }
            try {
                queue.put(o);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while sending", e);
            }
        }

        @SuppressWarnings("unchecked")
        private void deliver() {
            try {
                while (true) {
                    Object o = queue.take();
                    if (o == COMPLETED) {
                        closed = true;
                        downstream.onCompleted();
                        return;
                    }
                    if (o instanceof Failure f) {
                        closed = true;
                        downstream.onError(f.t());
                        return;
                    }
                    downstream.onNext((T) o);
                }
            } catch (InterruptedException e) {
                closed = true;
            } catch (RuntimeException e) {
                // the receiver failed: like a server error, it ends the stream
                closed = true;
                queue.clear();
                downstream.onError(e);
                if (onDownstreamFailure != null) {
                    onDownstreamFailure.accept(e);
                }
            }
        }
    }
}
