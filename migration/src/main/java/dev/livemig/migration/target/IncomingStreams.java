package dev.livemig.migration.target;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PageData;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceDone;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceMessage;
import dev.livemig.migration.transport.PageTransfer.PostcopyStart;
import dev.livemig.migration.transport.PageTransfer.PostcopyTargetDone;
import dev.livemig.migration.transport.PageTransfer.PostcopyTargetMessage;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;

/**
 * The two streams an {@link IncomingMigration} receives pages on: the page stream
 * (PushPages: pre-copy rounds, then post-copy's background push) and the post-copy
 * channel (QEMU's return path: page requests out, requested pages in), and the end of
 * post-copy, which both decide together.
 *
 * <p>Its own class because a stream lives longer than the connection it came on: each
 * new stream of a kind is a generation, and an error or a "done" from an older one (before
 * a reconnect or a post-copy recovery) is stale and must change nothing. A broken pre-copy
 * stream keeps the half-received guest for the handshake's reconnect timeout; a broken
 * post-copy stream pauses post-copy. Those generation rules are this class's; the
 * migration's state it changes is the migration's, under its lock.
 */
final class IncomingStreams {
    /** Longest a background batch waits for open vCPU faults before it is placed anyway. */
    static final long POSTCOPY_PUSH_YIELD_NANOS = 2_000_000;

    private final IncomingMigration m;
    // under m.lock from here on
    private long pagesReceived;
    private long zeroPagesReceived;
    private long bytesReceived;
    private int lastCompleteRound = -1;
    private boolean pushCompleted;
    private boolean sourceDone;
    // the newest stream of each kind: an error from an older one (before a recovery) is stale
    private int pushGeneration;
    private int postcopyGeneration;

    IncomingStreams(IncomingMigration m) {
        this.m = m;
    }

    MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack) {
        int generation;
        synchronized (m.lock) {
            generation = ++pushGeneration;
            pushCompleted = false;
            m.lock.notifyAll(); // a broken pre-copy stream's wait ends
        }
        return new MessageSink<>() {
            private boolean first = true;

            @Override
            public void onNext(PageBatch b) {
                m.placer.checkBatch(b); // a malformed batch changes nothing
                synchronized (m.lock) {
                    if (first && generation > 1) {
                        m.batches.abandonBefore(b.sequence());
                        if (m.error != null) {
                            m.error = null; // reconnected
                        }
                    }
                    first = false;
                    if (!m.batches.arrive(b.sequence())) {
                        return; // delivered twice: the first copy was placed already
                    }
                }
                if (m.placer.inPostcopy()) {
                    m.faults.yieldToFaults(POSTCOPY_PUSH_YIELD_NANOS);
                }
                m.placer.placeBatch(b);
                if (m.placer.inPostcopy()) {
                    for (long a : b.addresses()) {
                        arrivedAfterSwitchover(m.guest.layout().pageIndex(a));
                    }
                }
                synchronized (m.lock) {
                    m.batches.placed(b.sequence());
                    pagesReceived += b.pages();
                    for (int f : b.flags()) {
                        if (PageTransfer.isZero(f)) {
                            zeroPagesReceived++;
                        }
                    }
                    bytesReceived += b.wireBytes();
                    if (b.roundComplete()) {
                        lastCompleteRound = Math.max(lastCompleteRound, b.round());
                    }
                    m.lock.notifyAll();
                }
            }

            @Override
            public void onCompleted() {
                PushPagesAck a;
                synchronized (m.lock) {
                    if (generation == pushGeneration) {
                        pushCompleted = true; // not a stream a reconnect replaced
                    }
                    a = new PushPagesAck(m.migrationId, m.batches.placedCount(), pagesReceived, zeroPagesReceived,
                            bytesReceived, m.placer.checksumMismatchPages.get(), lastCompleteRound);
                    m.lock.notifyAll();
                }
                ack.onNext(a);
                ack.onCompleted();
                maybeComplete();
            }

            @Override
            public void onError(Throwable t) {
                synchronized (m.lock) {
                    if (generation != pushGeneration) {
                        return;
                    }
                    if (m.state == IncomingMigration.State.RUNNING && m.placer.inPostcopy()) {
                        m.pausePostcopy("page stream broke: " + t);
                        return;
                    }
                    if (m.state == IncomingMigration.State.RECEIVING && m.reconnectTimeoutMs > 0
                            && !(t instanceof IllegalArgumentException)) {
                        awaitReconnect(generation, "page stream broke: " + t);
                        return;
                    }
                }
                m.abort((t instanceof IllegalArgumentException ? "page batch refused: " : "page stream broke: ") + t);
            }
        };
    }

    /**
     * A pre-copy page stream broke and the source said it would reconnect: the half-received
     * guest is kept for {@code reconnectTimeoutMs}, and dropped if no new stream came by
     * then. Caller holds the lock.
     */
    private void awaitReconnect(int brokenGeneration, String why) {
        long timeoutMs = m.reconnectTimeoutMs;
        m.error = why + "; waiting " + timeoutMs + " ms for the source to reconnect";
        Thread t = new Thread(() -> {
            long deadline = System.currentTimeMillis() + timeoutMs;
            synchronized (m.lock) {
                long left;
                while (pushGeneration == brokenGeneration && m.state == IncomingMigration.State.RECEIVING
                        && (left = deadline - System.currentTimeMillis()) > 0) {
                    try {
                        m.lock.wait(left);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
                if (pushGeneration != brokenGeneration || m.state != IncomingMigration.State.RECEIVING) {
                    return;
                }
            }
            m.abort(why + "; the source did not reconnect within " + timeoutMs + " ms");
        }, "reconnect-wait-" + m.migrationId);
        t.setDaemon(true);
        t.start();
    }

    MessageSink<PostcopySourceMessage> postcopy(MessageSink<PostcopyTargetMessage> fromTarget) {
        int generation;
        synchronized (m.lock) {
            generation = ++postcopyGeneration;
        }
        return new MessageSink<>() {
            @Override
            public void onNext(PostcopySourceMessage msg) {
                if (msg instanceof PostcopyStart) {
                    synchronized (m.lock) {
                        if (generation != postcopyGeneration) {
                            return; // a stream a recovery replaced: it no longer speaks for the source
                        }
                        sourceDone = false;
                        m.postcopyStarted(fromTarget);
                    }
                    // the requests a broken connection swallowed, or made before this start arrived
                    m.faults.requestOpenAgain();
                } else if (msg instanceof PageData d) {
                    dev.livemig.migration.FaultPathPriority.runUrgent(); // the transport thread that installs answers
                    long read = EpochClock.nowNanos();
                    m.placer.place(d.address(), d.pageSizeBytes(), d.flags(), d.crc32c(), d.data(), 0);
                    int page = m.guest.layout().pageIndex(d.address());
                    m.faults.answerInstalled(page, d.sourceHoldNanos(), read);
                    arrivedAfterSwitchover(page);
                    maybeComplete(); // a resent page may be the last one missing
                } else if (msg instanceof PostcopySourceDone) {
                    synchronized (m.lock) {
                        if (generation != postcopyGeneration) {
                            // a late "done" of the stream before a recovery: taken for the new
                            // stream's, it would complete the migration while an answer is still
                            // on its way, and the page would be filled with zeros
                            return;
                        }
                        sourceDone = true;
                    }
                    maybeComplete();
                }
            }

            @Override
            public void onCompleted() {
            }

            @Override
            public void onError(Throwable t) {
                synchronized (m.lock) {
                    if (generation == postcopyGeneration && m.state == IncomingMigration.State.RUNNING) {
                        m.pausePostcopy("post-copy channel broke: " + t);
                    }
                }
            }
        };
    }

    /** A page came in on either stream after switchover: closes its request, or asks again if it was damaged. */
    private void arrivedAfterSwitchover(int page) {
        if (page >= 0 && m.placer.corrupt.get(page)) {
            m.faults.requestAgain(page);
        } else {
            m.faults.pageArrived(page);
        }
    }

    /**
     * Post-copy ends when both the background push and the priority channel say "all
     * sent" and no page that arrived damaged is still waiting for its good copy.
     */
    private void maybeComplete() {
        MessageSink<PostcopyTargetMessage> s;
        synchronized (m.lock) {
            if (!(pushCompleted && sourceDone && m.state == IncomingMigration.State.RUNNING && m.placer.inPostcopy())
                    || m.placer.corrupt.cardinality() != 0) {
                return;
            }
            m.state = IncomingMigration.State.COMPLETED;
            s = m.toSource;
            m.lock.notifyAll();
        }
        m.faults.sourceHasSentAll();
        if (s != null) {
            synchronized (s) {
                s.onNext(new PostcopyTargetDone(m.faults.missingFaults.get(), m.placer.received.cardinality(),
                        m.faults.faultLatency.summary(), m.faults.legs()));
                s.onCompleted();
            }
        }
        m.completed();
    }
}
