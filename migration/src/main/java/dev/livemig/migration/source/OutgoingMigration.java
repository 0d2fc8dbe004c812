package dev.livemig.migration.source;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.MigrationControl.LatencySummary;
import dev.livemig.migration.MigrationControl.MigrationInfo;
import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.MigrationStats;
import dev.livemig.migration.MigrationControl.ProgressListener;
import dev.livemig.migration.MigrationControl.RoundRecord;
import dev.livemig.migration.MigrationControl.TransferProgress;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.guest.WriteLog;
import dev.livemig.migration.stats.DowntimeProbe;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.tracker.DirtyTracker;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.HandshakeRequest;
import dev.livemig.migration.transport.PageTransfer.HandshakeResponse;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceMessage;
import dev.livemig.migration.transport.PageTransfer.PostcopyStart;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapRequest;
import dev.livemig.migration.transport.PageTransfer.SwitchoverRequest;
import dev.livemig.migration.transport.PageTransfer.SwitchoverResponse;
import dev.livemig.migration.transport.PageTransfer.VerifyRequest;
import dev.livemig.migration.transport.PageTransfer.VerifyResponse;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One outgoing migration (QEMU's MigrationState and migration thread): the state machine
 * SETUP -> ACTIVE -> (POSTCOPY_ACTIVE) -> COMPLETED | FAILED | CANCELLED, driving
 * {@link PrecopyEngine} rounds, the switchover and the {@link PostcopyPageServer} over a
 * {@link PageChannel}. What it tells the world (its state, round records, state changes,
 * watchers) goes through {@link MigrationEvents}; what a switchover costs beyond the pages
 * is measured by {@link SwitchoverCostMeter}.
 *
 * <p>Rounds run on a migration thread, or one per {@link #runRound()} call with
 * {@code manual_rounds}. Steps run under one lock; {@link #cancel} flags the request,
 * the running step unwinds at its next batch, and the cancel then tears down: the page
 * stream is failed (the target drops its half-built guest), tracking is removed, throttles
 * are lifted and the source guest runs on with its memory untouched. Cancel is refused in
 * POSTCOPY_ACTIVE, where only the target has a runnable guest; once the switchover has been
 * asked for, the migration is past the point of no return.
 *
 * <p>A page stream the target ends with an error (it died, or the connection broke) fails
 * the step at its next batch and rolls back like a cancel. A switchover the target refuses
 * for pages that failed their checksum is answered by resending what its received bitmap
 * lacks, then asked again ({@link StopAndCopy}).
 */
public final class OutgoingMigration {
    private static final long ACK_TIMEOUT_MS = 60_000;

    private final String id;
    private final String guestId;
    private final String targetAddress;
    private final Guest guest;
    private volatile PageChannel channel;
    private volatile MigrationParameters p;
    private final ReentrantLock step = new ReentrantLock();
    private final long startNanos = System.nanoTime();
    private final long startUnixMs = System.currentTimeMillis();
    /** State, records, changes and watchers: everything the world is told. */
    private final MigrationEvents events;
    private final SwitchoverCostMeter meter;
    private volatile boolean cancelRequested;
    private volatile String error = "";
    private DirtyTracker tracker;
    private PageSender sender;
    private PrecopyEngine precopy;
    private StopAndCopy stopAndCopy;
    private PostcopyPageServer pageServer;
    private MessageSink<PageBatch> pushStream;
    private volatile AckWaiter ack = new AckWaiter();
    /** Where a broken pre-copy page stream reconnects; by default the same channel (gRPC re-dials by itself). */
    private volatile java.util.function.Supplier<PageChannel> redial;
    private boolean paused;
    private boolean pointOfNoReturn;
    private long setupMs;
    private double downtimeSourceMs;
    private double downtimeTargetMs;
    private double predictedDowntimeMs;
    private long targetDirtiedPages;
    private long verifiedPages;
    private long verifyMismatchPages;
    private Thread thread;
    private volatile PostcopyPhase postcopy;
    private volatile DowntimeProbe probe;
    private volatile Runnable beforeCompleted;

    public OutgoingMigration(String id, String guestId, String targetAddress, Guest guest, PageChannel channel,
                             MigrationParameters parameters) {
        this.id = id;
        this.guestId = guestId;
        this.targetAddress = targetAddress;
        this.guest = guest;
        this.channel = channel;
        this.p = parameters.withDefaults();
        this.events = new MigrationEvents(id, startNanos, this::progress);
        this.meter = new SwitchoverCostMeter(id, () -> this.channel);
    }

    public void addListener(ProgressListener l) {
        events.addListener(l);
    }

    /**
     * Watch with progress_interval_ms: {@code l} gets round records and state changes
     * like any listener, plus a {@link TransferProgress} sample every
     * {@code progressIntervalMs} (0: never) until the migration reaches a final state,
     * and one last sample then.
     */
    public void addListener(ProgressListener l, long progressIntervalMs) {
        events.addListener(l, progressIntervalMs);
    }

    /** The watcher went away (its Watch stream ended). */
    public void removeListener(ProgressListener l) {
        events.removeListener(l);
    }

    /**
     * A probe client watching this guest: its longest gap between answers is the
     * migration's downtime_probe_ms. The caller starts and closes it; it should run from
     * before the start until the guest answered on the target.
     */
    public void setDowntimeProbe(DowntimeProbe p) {
        probe = p;
    }

    /** Where the migration stands now (livemig.v1.TransferProgress). */
    public TransferProgress progress() {
        PageSender ps = sender;
        PostcopyPageServer srv = pageServer;
        MigrationState st = events.state();
        long missing = 0;
        long faults = 0;
        if (srv != null && st == MigrationState.POSTCOPY_ACTIVE) {
            missing = srv.neededPages();
            faults = srv.requests.get();
        }
        if (ps == null) {
            return new TransferProgress(0, st, 0, 0, 0, 0, 0, missing, faults);
        }
        return new TransferProgress(ps.currentRound(), st, ps.roundSentPages(), ps.roundRemainingPages(),
                ps.totalPages, ps.totalBytes, ps.callBandwidthBytesPerS(), missing, faults);
    }

    // ---- driving ----------------------------------------------------------------------

    /**
     * StartMigration. With manual rounds SETUP runs here and this returns in ACTIVE;
     * otherwise a migration thread runs SETUP and everything after it.
     */
    public void start() {
        if (p.manualRounds()) {
            guarded(this::setup);
            return;
        }
        thread = new Thread(() -> {
            guarded(this::setup);
            while (state() == MigrationState.ACTIVE && !cancelRequested) {
                guarded(this::iterate);
            }
        }, "migration-" + id);
        thread.setDaemon(true);
        thread.start();
    }

    /** RunRound: one pre-copy round and whatever it decides. */
    public RoundRecord runRound() {
        if (!p.manualRounds()) {
            throw new IllegalStateException("FAILED_PRECONDITION: the migration advances on its own");
        }
        if (state() != MigrationState.ACTIVE) {
            throw new IllegalStateException("FAILED_PRECONDITION: migration is " + state());
        }
        int before = events.roundCount();
        guarded(this::iterate);
        List<RoundRecord> after = events.rounds();
        return after.size() > before ? after.get(before) : null;
    }

    private void guarded(Runnable r) {
        step.lock();
        try {
            if (cancelRequested || state().isFinal()) {
                return;
            }
            r.run();
        } catch (PageSender.Cancelled e) {
            // cancel() tears down once it holds the lock
        } catch (RuntimeException | OutOfMemoryError e) {
            // an OutOfMemoryError would otherwise end the migration thread and leave the
            // migration ACTIVE for ever with the guest throttled; failing it resumes the guest
            fail(e.toString());
        } finally {
            step.unlock();
        }
    }

    private void setup() {
        HandshakeResponse hs = channel.handshake(new HandshakeRequest(PageTransfer.PROTOCOL_VERSION, id, p.mode(),
                guest.layout(), List.of(PageTransfer.FEATURE_ZERO_PAGE_FLAG, PageTransfer.FEATURE_CRC32C,
                PageTransfer.FEATURE_DISCARD), p.precopyRetries() > 0 ? p.reconnectTimeoutMs() : 0, guestId));
        if (!hs.accepted()) {
            fail("handshake refused: " + hs.reason());
            return;
        }
        pushStream = channel.pushPages(ack);
        sender = new PageSender(id, guest, pushStream, p, () -> cancelRequested && !pointOfNoReturn, ack::error);
        if (p.mode() != MigrationMode.POSTCOPY) {
            tracker = DirtyTracker.create(p.tracker(), guest);
            precopy = new PrecopyEngine(guest, p, tracker, sender, meter, startNanos);
            precopy.setup();
            stopAndCopy = new StopAndCopy(this, precopy, tracker, sender, events, meter);
        }
        meter.sync(0, false); // a first clock offset, for post-copy too, which has no rounds
        setupMs = (System.nanoTime() - startNanos) / 1_000_000;
        checkCancel();
        events.transition(MigrationState.ACTIVE, "setup done in " + setupMs + " ms");
    }

    /** One step of the migration thread. */
    private void iterate() {
        if (p.mode() == MigrationMode.POSTCOPY) {
            startPostcopy("mode POSTCOPY: switch over right after setup");
            return;
        }
        RoundRecord r;
        try {
            r = precopy.round();
        } catch (PageSender.StreamBroken e) {
            if (!PrecopyReconnect.reconnect(this, e)) {
                throw e;
            }
            return; // the next round sends what was lost with the rest of the dirty set
        }
        events.publish(r);
        switch (r.decision()) {
            case SWITCHOVER -> {
                predictedDowntimeMs = r.predictedDowntimeMs();
                completePrecopy();
            }
            case POSTCOPY -> {
                predictedDowntimeMs = r.predictedDowntimeMs();
                startPostcopy(r.reason());
            }
            case FAIL -> fail(r.reason());
            default -> { }
        }
    }

    void checkCancel() {
        if (cancelRequested && !pointOfNoReturn) {
            throw new PageSender.Cancelled();
        }
    }

    // ---- switchover: StopAndCopy -----------------------------------------------------------

    /**
     * Stop-and-copy and the switchover ({@link StopAndCopy}, with its retries and resends);
     * a target that did not resume fails the migration and the source guest resumes with
     * its memory as it was.
     */
    private void completePrecopy() {
        long pauseNs = guest.pause();
        paused = true;
        SwitchoverResponse resp = stopAndCopy.run(pauseNs);
        if (!resp.resumed()) {
            pointOfNoReturn = false;
            fail("target did not resume: " + resp.error());
            return;
        }
        downtimeSourceMs = EpochClock.millisBetween(pauseNs, EpochClock.nowNanos());
        downtimeTargetMs = resp.downtimeMs();
        pushStream.onCompleted();
        PushPagesAck a = ack.await(ACK_TIMEOUT_MS);
        tracker.close();
        if (a == null) {
            error = "no PushPages ack";
        }
        finish();
    }

    /** Whether a failure from now on leaves the source guest paused (the target may run it). */
    void setPointOfNoReturn(boolean passed) {
        pointOfNoReturn = passed;
    }

    PageChannel channel() {
        return channel;
    }

    private void startPostcopy(String reason) {
        long pauseNs = guest.pause();
        paused = true;
        PageBitmap needed;
        if (precopy != null) {
            // not a round of its own: it sends no pages, and the round that decided POSTCOPY
            // stays the last one in the list (the scan's finding goes into the state change)
            RoundRecord last = precopy.finalPass(true, "postcopy: " + reason);
            tracker.close();
            needed = precopy.dirty;
            reason = reason + "; " + last.remainingDirtyPages() + " pages left to the page server";
        } else {
            needed = PostcopyPageServer.populatedPages(guest);
            sender.flush(true);
        }
        checkCancel();
        pointOfNoReturn = true;
        PostcopyCompletion done = new PostcopyCompletion();
        MessageSink<PostcopySourceMessage> priority = channel.postcopy(done);
        pageServer = new PostcopyPageServer(guest, needed, sender.sentOnce, priority);
        done.server = pageServer;
        sender.yieldTo(pageServer::lastRequestNanos);
        synchronized (priority) {
            priority.onNext(new PostcopyStart(id));
        }
        int round = precopy == null ? 0 : precopy.rounds();
        SwitchoverResponse resp = channel.switchover(new SwitchoverRequest(id, Math.max(0, round - 1),
                sender.batchesSent(), guest.layout(), guest.saveVcpus(), true, pauseNs, meter.targetClockOffsetNs()));
        if (!resp.resumed()) {
            pointOfNoReturn = false;
            priority.onError(new CancellationException(resp.error()));
            fail("target did not resume: " + resp.error());
            return;
        }
        downtimeSourceMs = EpochClock.millisBetween(pauseNs, EpochClock.nowNanos());
        downtimeTargetMs = resp.downtimeMs();
        events.transition(MigrationState.POSTCOPY_ACTIVE, reason);
        postcopy = new PostcopyPhase(id, guest.layout(), sender, pageServer, round,
                new PostcopyPhase.Link(channel, pushStream, ack, done),
                why -> {
                    error = why;
                    events.note("paused: " + why);
                },
                this::fail,
                () -> {
                    step.lock();
                    try {
                        finish();
                    } finally {
                        step.unlock();
                    }
                });
        Thread bg = new Thread(postcopy, "postcopy-push-" + id);
        bg.setDaemon(true);
        bg.start();
    }

    /**
     * {@code r} runs once the target runs the guest and verification is done, just before
     * the migration turns COMPLETED: a source node frees the guest's memory there, so that
     * whoever sees COMPLETED sees it freed.
     */
    public void beforeCompleted(Runnable r) {
        beforeCompleted = r;
    }

    /**
     * Where a broken pre-copy page stream reconnects (precopy_retries): each attempt takes
     * a channel from {@code r}; without it the same channel is used again (gRPC re-dials).
     */
    public void setRedial(java.util.function.Supplier<PageChannel> r) {
        redial = r;
    }

    PageChannel redialChannel() {
        java.util.function.Supplier<PageChannel> r = redial;
        return r == null ? channel : r.get();
    }

    /** Reconnected on {@code ch}: the rest of the migration uses it. Caller holds the step lock. */
    void reattachPrecopy(PageChannel ch, AckWaiter newAck, MessageSink<PageBatch> stream, PageBitmap lost,
                         String how) {
        channel = ch;
        ack = newAck;
        pushStream = stream;
        sender.reattach(stream, newAck::error);
        precopy.dirty.or(lost);
        events.note("page stream reconnected (" + how + "): " + lost.cardinality() + " pages lost on the way go again");
    }

    boolean cancelRequested() {
        return cancelRequested;
    }

    PageSender sender() {
        return sender;
    }

    /** Post-copy lost its connection and waits for {@link #recoverPostcopy}. */
    public boolean postcopyPaused() {
        PostcopyPhase pc = postcopy;
        return pc != null && pc.paused();
    }

    /**
     * Post-copy recovery (QEMU's migrate-recover): continues a paused post-copy over
     * {@code newChannel} to the same target. The target's received bitmap decides what
     * is pushed again; verification and the final statistics then use the new channel.
     */
    public void recoverPostcopy(PageChannel newChannel) {
        PostcopyPhase pc = postcopy;
        if (pc == null || state() != MigrationState.POSTCOPY_ACTIVE) {
            throw new IllegalStateException("FAILED_PRECONDITION: migration is " + state() + ", not in post-copy");
        }
        PostcopyPhase.Link l = pc.recover(newChannel);
        channel = newChannel;
        pushStream = l.pushStream();
        error = "";
        events.note("recovered on a new connection");
    }

    /** COMPLETED: optionally verifies every page, then records the target's view. */
    private void finish() {
        if (p.verifyPages()) {
            VerifyResponse v = channel.verify(new VerifyRequest(id, PageChecksums.of(guest.mm(), guest.layout())));
            verifiedPages = v.verifiedPages();
            verifyMismatchPages = v.mismatchPages();
        }
        targetDirtiedPages = channel.receivedBitmap(new ReceivedBitmapRequest(id, List.of()))
                .dirtiedSinceSwitchoverPages();
        long resentPages = stopAndCopy == null ? 0 : stopAndCopy.resentPages();
        String how = resentPages == 0 ? "guest runs on the target"
                : "guest runs on the target (" + resentPages + " pages resent after failing their crc32c)";
        Runnable r = beforeCompleted;
        if (r != null) {
            r.run();
        }
        events.transition(MigrationState.COMPLETED, error.isEmpty() ? how : error);
    }

    // ---- cancel and failure ------------------------------------------------------------

    /** Cancel: the guest keeps running on the source. Returns the final state. */
    public MigrationState cancel(String reason) {
        if (state() == MigrationState.POSTCOPY_ACTIVE) {
            throw new IllegalStateException("FAILED_PRECONDITION: cannot cancel in POSTCOPY_ACTIVE, "
                    + "the guest runs on the target");
        }
        if (state().isFinal()) {
            return state();
        }
        cancelRequested = true;
        step.lock();
        try {
            if (state() == MigrationState.POSTCOPY_ACTIVE) {
                throw new IllegalStateException("FAILED_PRECONDITION: the migration reached POSTCOPY_ACTIVE first");
            }
            if (!state().isFinal()) {
                rollBack(new CancellationException(reason));
                events.transition(MigrationState.CANCELLED, reason == null || reason.isEmpty() ? "cancelled" : reason);
            }
            return state();
        } finally {
            step.unlock();
        }
    }

    private void fail(String why) {
        step.lock();
        try {
            if (state().isFinal()) {
                return;
            }
            error = why;
            if (!pointOfNoReturn) {
                rollBack(new IllegalStateException(why));
            }
            events.transition(MigrationState.FAILED, why);
        } finally {
            step.unlock();
        }
    }

    /** Undoes everything the migration did to the source guest. */
    private void rollBack(Throwable why) {
        if (pushStream != null) {
            pushStream.onError(why);
        }
        if (tracker != null) {
            tracker.close();
        }
        guest.setThrottlePercent(0);
        guest.setDirtyLimitPagesPerS(0);
        if (paused) {
            guest.resume();
            paused = false;
        }
    }

    // ---- state, events, statistics --------------------------------------------------------

    public MigrationState state() {
        return events.state();
    }

    /** Waits until COMPLETED, FAILED or CANCELLED (or the timeout); returns the state. */
    public MigrationState awaitFinal(long timeoutMs) throws InterruptedException {
        return events.awaitFinal(timeoutMs);
    }

    public List<RoundRecord> rounds() {
        return events.rounds();
    }

    public MigrationParameters parameters() {
        return p;
    }

    /**
     * SetParameters on this migration: the tunables (downtime and bandwidth limits, max
     * rounds, switchover policy, throttling, post-copy trigger) apply from the next
     * decision or batch on. Mode, tracker and manual rounds cannot change
     * (IllegalArgumentException, the service's INVALID_ARGUMENT). Returns the parameters
     * now in force.
     */
    public MigrationParameters setParameters(MigrationParameters next) {
        MigrationParameters n = next.withDefaults();
        MigrationParameters cur = p;
        if (n.mode() != cur.mode() || n.tracker() != cur.tracker() || n.manualRounds() != cur.manualRounds()) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: mode, tracker and manual_rounds are fixed "
                    + "once a migration started");
        }
        step.lock();
        try {
            p = n;
            if (precopy != null) {
                precopy.updateParameters(n);
            }
            if (sender != null) {
                sender.setBandwidthLimit(n.bandwidthLimitBytesPerS());
                sender.resetPacing();
            }
            return n;
        } finally {
            step.unlock();
        }
    }

    public MigrationStats stats() {
        WriteLog.Score s = precopy == null ? WriteLog.Score.NONE : precopy.score();
        PageSender ps = sender;
        PostcopyPageServer srv = pageServer;
        long bytes = ps == null ? 0 : ps.totalBytes;
        LatencySummary lat = LatencySummary.EMPTY;
        long faults = 0;
        PageTransfer.PostcopyLegs legs = PageTransfer.PostcopyLegs.EMPTY;
        long transferred = ps == null ? 0 : ps.sentOnce.cardinality();
        if (srv != null) {
            bytes += srv.priorityBytes.get();
            // the target's figure covers the whole round trip (and counts each faulting page
            // once, however often a recovery asked again); until it comes, the source's leg
            LatencySummary t = srv.targetFaultLatency;
            boolean whole = t != null && t.count() > 0;
            lat = whole ? t : srv.requestLatency.summary();
            faults = whole ? t.count() : srv.requests.get();
            legs = srv.targetLegs;
        }
        DowntimeProbe pr = probe;
        return new MigrationStats(p.mode(), events.totalMs(), setupMs, downtimeSourceMs, downtimeTargetMs,
                pr == null ? 0 : pr.longestGapMs(),
                predictedDowntimeMs, events.roundCount(), transferred, ps == null ? 0 : ps.duplicatedPages,
                ps == null ? 0 : ps.totalZeroPages, bytes, guest.layout().sizeBytes(), faults, lat,
                targetDirtiedPages, s.truePositivePages(), s.falsePositivePages(), s.falseNegativePages(),
                verifiedPages, verifyMismatchPages, meter.targetClockOffsetNs() / 1e6, legs.network(),
                legs.sourceHold(), legs.install());
    }

    public MigrationInfo info() {
        return new MigrationInfo(id, guestId, targetAddress, events.state(), p, stats(), rounds(), events.changes(),
                error, startUnixMs);
    }

    public String id() {
        return id;
    }

    /** The id of the guest on this node, as the migration was started. */
    public String guestId() {
        return guestId;
    }

    /** The guest this migration moves (a guest that comes back later is a new one). */
    public Guest guest() {
        return guest;
    }

    public String error() {
        return error;
    }
}
