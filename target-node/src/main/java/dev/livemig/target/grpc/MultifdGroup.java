package dev.livemig.target.grpc;

import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;

/**
 * The PushPages calls of one multifd group (header {@link PageTransferCodec#MULTIFD_HEADER})
 * as the one page stream the engine knows: the first call to bind opens the engine's
 * stream, every call's batches go into it (one at a time: placement is ordered by batch
 * sequence, not by call, and the page-table lock serialises it anyway; parsing, the larger
 * part of receiving, stays on each call's own thread), the engine's stream completes once
 * every call of the group has, and its ack goes back on every call.
 */
final class MultifdGroup {
    private final String id;
    private final int count;
    private final Runnable onEnd;
    private final List<MessageSink<PushPagesAck>> acks = new ArrayList<>();
    private MessageSink<PageBatch> engine;
    private int completed;
    private boolean failed;
    /** Why the group failed: a refusal is repeated to every call, so the source hears the refusal first. */
    private Throwable failure;

    MultifdGroup(String id, int count, Runnable onEnd) {
        this.id = id;
        this.count = count;
        this.onEnd = onEnd;
    }

    /** Parses {@code GROUP/INDEX/COUNT}; null if malformed. */
    static int[] indexAndCount(String header) {
        String[] f = header.split("/");
        try {
            int i = Integer.parseInt(f[1]);
            int n = Integer.parseInt(f[2]);
            return f.length == 3 && n > 0 && n <= 64 && i >= 0 && i < n ? new int[] {i, n} : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    String id() {
        return id;
    }

    int count() {
        return count;
    }

    /** One call of the group joins, with the sink of its own response; returns the sink of its batches. */
    synchronized MessageSink<PageBatch> join(IncomingMigration m, MessageSink<PushPagesAck> callAck) {
        acks.add(callAck);
        if (engine == null) {
            engine = m.pushPages(new MessageSink<>() {
                @Override
                public void onNext(PushPagesAck a) {
                    for (MessageSink<PushPagesAck> s : snapshot()) {
                        s.onNext(a);
                    }
                }

                @Override
                public void onCompleted() {
                    for (MessageSink<PushPagesAck> s : snapshot()) {
                        s.onCompleted();
                    }
                }

                @Override
                public void onError(Throwable t) {
                    for (MessageSink<PushPagesAck> s : snapshot()) {
                        s.onError(t);
                    }
                }
            });
        }
        return new MessageSink<>() {
            @Override
            public void onNext(PageBatch b) {
                synchronized (MultifdGroup.this) {
                    if (failed) {
                        if (failure instanceof IllegalArgumentException refused) {
                            // the same refusal on this call too: otherwise the source could hear
                            // this call's CANCELLED before the refused call's INVALID_ARGUMENT and
                            // take a malformed batch for a broken connection (and reconnect)
                            throw new IllegalArgumentException(refused.getMessage(), refused);
                        }
                        throw Status.CANCELLED.withDescription("another page stream of multifd group " + id
                                + " failed").asRuntimeException();
                    }
                    engine.onNext(b);
                }
            }

            @Override
            public void onCompleted() {
                MessageSink<PageBatch> e;
                synchronized (MultifdGroup.this) {
                    if (failed || ++completed < count) {
                        return;
                    }
                    e = engine;
                }
                onEnd.run();
                e.onCompleted();
            }

            @Override
            public void onError(Throwable t) {
                MessageSink<PageBatch> e;
                synchronized (MultifdGroup.this) {
                    if (failed) {
                        return;
                    }
                    failed = true;
                    failure = t;
                    e = engine;
                }
                onEnd.run();
                e.onError(t);
            }
        };
    }

    private synchronized List<MessageSink<PushPagesAck>> snapshot() {
        return List.copyOf(acks);
    }
}
