package dev.livemig.source.grpc;

import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;
import dev.livemig.proto.v1.PageTransferGrpc;
import dev.livemig.target.grpc.PageTransferCodec;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One page stream of the engine spread over several PushPages calls, each on a connection
 * and a sending thread of its own (QEMU's multifd: multifd_send_thread per channel, the
 * migration thread only filling packets). The engine's thread reads and checksums pages
 * into batches; a sender takes the next batch, serialises it and waits for its call's flow
 * control, so building, serialising and the transport of several batches overlap instead of
 * taking turns on one stream.
 *
 * <p>Batches may reach the target in another order than their sequence; the target orders
 * them by sequence as it does after a reconnect. The target answers every call with the one
 * PushPagesAck of the whole group, once all calls ended; the engine hears the first one. Any
 * call failing fails the group: the other calls are cancelled and the engine's next batch
 * throws, as with a single broken stream.
 */
final class MultifdPush implements MessageSink<PageBatch> {
    private static final Object END = new Object();

    private final BlockingQueue<Object> queue;
    private final List<GrpcPageChannel.PushStream> streams = new ArrayList<>();
    private final List<Thread> senders = new ArrayList<>();
    private final MessageSink<PushPagesAck> ack;
    private final AtomicInteger ackFrom = new AtomicInteger(-1);
    private final AtomicBoolean ended = new AtomicBoolean();
    private volatile Throwable failure;

    private MultifdPush(int channels, MessageSink<PushPagesAck> ack) {
        // one batch waiting per sender: enough to keep each busy, few bytes held at switchover
        this.queue = new ArrayBlockingQueue<>(channels);
        this.ack = ack;
    }

    /** Opens one PushPages call per stub, named {@code GROUP/INDEX/COUNT} in the multifd header. */
    static MultifdPush start(List<PageTransferGrpc.PageTransferStub> stubs, String migrationId,
                             MessageSink<PushPagesAck> ack) {
        int n = stubs.size();
        MultifdPush m = new MultifdPush(n, ack);
        String group = UUID.randomUUID().toString();
        for (int i = 0; i < n; i++) {
            Metadata headers = new Metadata();
            if (migrationId != null) {
                headers.put(PageTransferCodec.MIGRATION_ID_HEADER, migrationId);
            }
            headers.put(PageTransferCodec.MULTIFD_HEADER, group + "/" + i + "/" + n);
            PageTransferGrpc.PageTransferStub stub =
                    stubs.get(i).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
            GrpcPageChannel.PushStream ps = new GrpcPageChannel.PushStream(m.ackOf(i));
            GrpcPageChannel.detached(() -> SerialisedBatches.pushPages(stub, ps.responses));
            m.streams.add(ps);
        }
        for (int i = 0; i < n; i++) {
            GrpcPageChannel.PushStream ps = m.streams.get(i);
            Thread t = new Thread(() -> m.send(ps), "multifd-send-" + i + "-" + migrationId);
            t.setDaemon(true);
            m.senders.add(t);
            t.start();
        }
        return m;
    }

    /** The ack observer of call {@code i}: forwards the group's ack once, and the first error. */
    private MessageSink<PushPagesAck> ackOf(int i) {
        return new MessageSink<>() {
            @Override
            public void onNext(PushPagesAck a) {
                if (ackFrom.compareAndSet(-1, i)) {
                    ack.onNext(a);
                }
            }

            @Override
            public void onCompleted() {
                if (ackFrom.get() == i && ended.compareAndSet(false, true)) {
                    ack.onCompleted();
                }
            }

            @Override
            public void onError(Throwable t) {
                fail(t);
            }
        };
    }

    private void fail(Throwable t) {
        if (failure == null) {
            failure = t;
        }
        if (ended.compareAndSet(false, true)) {
            ack.onError(t);
        }
        for (Thread s : senders) {
            s.interrupt();
        }
    }

    /** A sender: the next batch onto its own call, until the end marker or a failure. */
    private void send(GrpcPageChannel.PushStream ps) {
        try {
            while (failure == null) {
                Object o = queue.poll(50, TimeUnit.MILLISECONDS);
                if (o == END) {
                    ps.onCompleted();
                    return;
                }
                if (o != null) {
                    ps.onNext((PageBatch) o);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            fail(e);
        }
        // this call or another failed, or the engine gave up the stream: end this call too
        try {
            ps.onError(failure != null ? failure : Status.CANCELLED.asRuntimeException());
        } catch (RuntimeException e) {
            // the call is gone already
        }
    }

    private void checkFailure() {
        Throwable t = failure;
        if (t != null) {
            throw GrpcPageChannel.sendFailure(t);
        }
    }

    @Override
    public void onNext(PageBatch batch) {
        try {
            while (!queue.offer(batch, 50, TimeUnit.MILLISECONDS)) {
                checkFailure();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted while sending").asRuntimeException();
        }
        checkFailure();
    }

    @Override
    public void onCompleted() {
        try {
            for (int i = 0; i < streams.size(); i++) {
                while (!queue.offer(END, 50, TimeUnit.MILLISECONDS)) {
                    if (failure != null) {
                        return; // the ack observer has heard of it already
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void onError(Throwable t) {
        queue.clear();
        fail(t);
    }
}
