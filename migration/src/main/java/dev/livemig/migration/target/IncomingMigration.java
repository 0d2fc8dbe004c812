package dev.livemig.migration.target;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.MigrationControl.LatencySummary;
import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.HandshakeRequest;
import dev.livemig.migration.transport.PageTransfer.HandshakeResponse;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PageData;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceDone;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceMessage;
import dev.livemig.migration.transport.PageTransfer.PostcopyStart;
import dev.livemig.migration.transport.PageTransfer.PostcopyTargetDone;
import dev.livemig.migration.transport.PageTransfer.PostcopyTargetMessage;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapRequest;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapResponse;
import dev.livemig.migration.transport.PageTransfer.SwitchoverRequest;
import dev.livemig.migration.transport.PageTransfer.SwitchoverResponse;
import dev.livemig.migration.transport.PageTransfer.VerifyRequest;
import dev.livemig.migration.transport.PageTransfer.VerifyResponse;
import dev.livemig.mm.Kernel;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The incoming side of one migration (QEMU's MigrationIncomingState): the target
 * engine, serving every call of {@link PageChannel}.
 *
 * <p>At handshake it maps the layout's regions at the source's addresses in a fresh
 * address space of its kernel and registers them MISSING | WP with a userfaultfd, so
 * every page is installed with UFFDIO_COPY / ZEROPAGE ({@link PagePlacer}). At switchover
 * it waits for every pushed batch, write-protects the whole guest (from now on a write is
 * a sync WP fault: the page is recorded as dirtied since switchover), loads the vCPU
 * states and resumes; the first guest instruction ends the downtime. In post-copy the
 * {@link PostcopyFaultHandler} turns missing-page faults into priority requests while the
 * background push fills the rest in.
 */
public final class IncomingMigration implements PageChannel {
    /** How long a switchover waits for the page stream to catch up, by default. */
    static final long SWITCHOVER_WAIT_MS = 60_000;
    private static final System.Logger LOG = System.getLogger(IncomingMigration.class.getName());
    private volatile long switchoverWaitMs = SWITCHOVER_WAIT_MS;

    /** Longest a background batch waits for open vCPU faults before it is placed anyway. */
    static final long POSTCOPY_PUSH_YIELD_NANOS = 2_000_000;

    public enum State { IDLE, RECEIVING, RUNNING, COMPLETED, FAILED }

    private final Kernel kernel;
    private final ResumeCalibration calibration;
    private final Object lock = new Object();
    private State state = State.IDLE;
    private String migrationId;
    private MigrationMode mode;
    private Guest guest;
    private UserfaultfdCtx ctx;
    private PagePlacer placer;
    private PostcopyFaultHandler faults;
    private final BatchLedger batches = new BatchLedger();
    private long pagesReceived;
    private long zeroPagesReceived;
    private long bytesReceived;
    private int lastCompleteRound = -1;
    private boolean pushCompleted;
    private boolean sourceDone;
    private MessageSink<PostcopyTargetMessage> toSource;
    private long resumeUnixNs;
    private double downtimeMs;
    private String error;
    private final AtomicLong requestsSent = new AtomicLong();
    /** Post-copy lost its connection: the guest runs, faulting vCPUs wait for a recovery. */
    private boolean postcopyPaused;
    private String pauseReason;
    /** The guest was stopped and its memory released (a failed pre-copy, or close). */
    private boolean tornDown;
    /** From the handshake: how long a broken pre-copy page stream waits for the source to reconnect. */
    private long reconnectTimeoutMs;
    // the newest stream of each kind: an error from an older one (before a recovery) is stale
    private int pushGeneration;
    private int postcopyGeneration;
    /** The pause time of the Switchover that resumed the guest here, and its answer (a repeat gets the same). */
    private long switchoverPauseNs;
    private SwitchoverResponse switchedOver;
    /** The guest's id on the source node (from the handshake; "" if it sent none). */
    private String guestId = "";
    private volatile java.util.function.Consumer<IncomingMigration> onCompleted;
    /** The guest left this migration's care ({@link #handOver}): close() no longer stops it. */
    private boolean handedOver;
    /** The source verified (a hand-over before that checksums the unwritten pages first). */
    private boolean verified;
    private final Object verifyLock = new Object();

    public IncomingMigration(Kernel kernel) {
        this.kernel = kernel;
        this.calibration = new ResumeCalibration();
    }

    // ---- handshake --------------------------------------------------------------------

    @Override
    public HandshakeResponse handshake(HandshakeRequest req) {
        synchronized (lock) {
            if (state != State.IDLE) {
                return new HandshakeResponse(false, PageTransfer.PROTOCOL_VERSION,
                        "target already has an incoming migration (" + migrationId + ")", List.of());
            }
            if (req.protocolVersion() != PageTransfer.PROTOCOL_VERSION) {
                return new HandshakeResponse(false, PageTransfer.PROTOCOL_VERSION,
                        "protocol version " + req.protocolVersion() + " unsupported (this target speaks " + PageTransfer.PROTOCOL_VERSION + ")", List.of());
            }
            migrationId = req.migrationId();
            guestId = req.guestId() == null ? "" : req.guestId();
            mode = req.mode();
            reconnectTimeoutMs = req.reconnectTimeoutMs();
            guest = Guest.incoming(kernel, req.layout());
            ctx = guest.mm().userfaultfd();
            ctx.api(UffdFeatures.MISSING_SHMEM | UffdFeatures.MISSING_HUGETLBFS | UffdFeatures.WP_HUGETLBFS_SHMEM);
            for (RegionLayout r : req.layout().regions()) {
                ctx.register(r.startAddress(), r.sizeBytes(),
                        UserfaultfdCtx.REGISTER_MODE_MISSING | UserfaultfdCtx.REGISTER_MODE_WP);
            }
            placer = new PagePlacer(guest, ctx);
            faults = new PostcopyFaultHandler(guest, ctx, placer);
            state = State.RECEIVING;
            List<String> features = new ArrayList<>(req.features());
            features.retainAll(List.of(PageTransfer.FEATURE_ZERO_PAGE_FLAG, PageTransfer.FEATURE_CRC32C,
                    PageTransfer.FEATURE_DISCARD));
            return new HandshakeResponse(true, PageTransfer.PROTOCOL_VERSION, "", features);
        }
    }

    // ---- page stream --------------------------------------------------------------------

    @Override
    public MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack) {
        int generation;
        synchronized (lock) {
            generation = ++pushGeneration;
            pushCompleted = false;
            lock.notifyAll(); // a broken pre-copy stream's wait ends
        }
        return new MessageSink<>() {
            private boolean first = true;

            @Override
            public void onNext(PageBatch b) {
                placer.checkBatch(b); // a malformed batch changes nothing
                synchronized (lock) {
                    if (first && generation > 1) {
                        batches.abandonBefore(b.sequence());
                        if (error != null) {
                            error = null; // reconnected
                        }
                    }
                    first = false;
                    if (!batches.arrive(b.sequence())) {
                        return; // delivered twice: the first copy was placed already
                    }
                }
                if (placer.inPostcopy()) {
                    faults.yieldToFaults(POSTCOPY_PUSH_YIELD_NANOS);
                }
                placer.placeBatch(b);
                if (placer.inPostcopy()) {
                    for (long a : b.addresses()) {
                        arrivedAfterSwitchover(guest.layout().pageIndex(a));
                    }
                }
                synchronized (lock) {
                    batches.placed(b.sequence());
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
                    lock.notifyAll();
                }
            }

            @Override
            public void onCompleted() {
                PushPagesAck a;
                synchronized (lock) {
                    if (generation == pushGeneration) {
                        pushCompleted = true; // not a stream a reconnect replaced
                    }
                    a = new PushPagesAck(migrationId, batches.placedCount(), pagesReceived, zeroPagesReceived,
                            bytesReceived, placer.checksumMismatchPages.get(), lastCompleteRound);
                    lock.notifyAll();
                }
                ack.onNext(a);
                ack.onCompleted();
                maybeComplete();
            }

            @Override
            public void onError(Throwable t) {
                synchronized (lock) {
                    if (generation != pushGeneration) {
                        return;
                    }
                    if (state == State.RUNNING && placer.inPostcopy()) {
                        pausePostcopy("page stream broke: " + t);
                        return;
                    }
                    if (state == State.RECEIVING && reconnectTimeoutMs > 0 && !(t instanceof IllegalArgumentException)) {
                        awaitReconnect(generation, "page stream broke: " + t);
                        return;
                    }
                }
                abort((t instanceof IllegalArgumentException ? "page batch refused: " : "page stream broke: ") + t);
            }
        };
    }

    /**
     * A pre-copy page stream broke and the source said it would reconnect: the half-received
     * guest is kept for {@code reconnectTimeoutMs}, and dropped if no new stream came by
     * then. Caller holds the lock.
     */
    private void awaitReconnect(int brokenGeneration, String why) {
        error = why + "; waiting " + reconnectTimeoutMs + " ms for the source to reconnect";
        Thread t = new Thread(() -> {
            long deadline = System.currentTimeMillis() + reconnectTimeoutMs;
            synchronized (lock) {
                long left;
                while (pushGeneration == brokenGeneration && state == State.RECEIVING
                        && (left = deadline - System.currentTimeMillis()) > 0) {
                    try {
                        lock.wait(left);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
                if (pushGeneration != brokenGeneration || state != State.RECEIVING) {
                    return;
                }
            }
            abort(why + "; the source did not reconnect within " + reconnectTimeoutMs + " ms");
        }, "reconnect-wait-" + migrationId);
        t.setDaemon(true);
        t.start();
    }

    // ---- switchover --------------------------------------------------------------------

    /** Waits (at most {@code waitMs}, while RECEIVING) until batches 0..n-1 are placed; caller holds the lock. */
    private boolean awaitBatches(long n, long waitMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + waitMs;
        while (batches.firstMissing() < n && state == State.RECEIVING) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return false;
            }
            lock.wait(left);
        }
        return batches.firstMissing() >= n;
    }

    @Override
    public SwitchoverResponse switchover(SwitchoverRequest req) {
        long arrived = EpochClock.nowNanos();
        long drained;
        synchronized (lock) {
            try {
                if (!awaitBatches(req.batchesSent(), switchoverWaitMs) && state == State.RECEIVING) {
                    return fail("timed out waiting for " + req.batchesSent() + " batches, have "
                            + batches.placedCount() + ", first missing " + batches.firstMissing());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return fail("interrupted");
            }
            drained = EpochClock.nowNanos();
            if (state != State.RECEIVING) {
                SwitchoverResponse again = repeatedSwitchover(req);
                return again != null ? again
                        : new SwitchoverResponse(false, 0, 0, 0, "no incoming migration to switch over: " + state);
            }
            int corrupt = placer.corrupt.cardinality();
            if (corrupt != 0) {
                // not fatal: the received bitmap lacks these pages, the source resends them and asks again
                return new SwitchoverResponse(false, 0, 0, corrupt, corrupt
                        + " pages failed their crc32c and were dropped: resend them");
            }
            for (RegionLayout r : guest.layout().regions()) {
                ctx.writeprotect(r.startAddress(), r.sizeBytes(), UserfaultfdCtx.WRITEPROTECT_MODE_WP);
            }
            if (req.postcopy()) {
                placer.enterPostcopy();
                if (toSource == null) {
                    // the PostcopyStart is still on its way on the other stream: a fault until
                    // then is a request kept open (sent when it comes), not a page taken for zeros
                    faults.setRequester(r -> { });
                }
            } else {
                faults.sourceHasSentAll();
            }
            faults.start();
            guest.loadVcpus(req.vcpus());
            state = State.RUNNING;
            switchoverPauseNs = req.pauseUnixNs();
        }
        guest.start();
        long first = guest.firstInstructionNanos(10_000);
        SwitchoverResponse resp;
        synchronized (lock) {
            resumeUnixNs = first;
            // the pause stamp is the source's clock: shifted onto this one by the offset Sync measured
            downtimeMs = EpochClock.millisBetween(req.pauseUnixNs() + req.targetClockOffsetNs(), first);
            if (!req.postcopy()) {
                state = State.COMPLETED;
            }
            long missing = guest.layout().pages() - placer.received.cardinality();
            long now = EpochClock.nowNanos();
            switchedOver = new SwitchoverResponse(first != 0, first, downtimeMs, missing,
                    first != 0 ? "" : "the guest did not run after resume", EpochClock.millisBetween(arrived, drained),
                    first != 0 ? EpochClock.millisBetween(drained, first) : 0, EpochClock.millisBetween(arrived, now));
            lock.notifyAll();
            resp = switchedOver;
        }
        if (!req.postcopy()) {
            completed();
        }
        return resp;
    }

    /**
     * The same Switchover again (same pause time): its first answer was lost with the
     * connection and the source, reconnected, asks again. The guest already runs here, so
     * the answer is the first one (waiting for it if the first call is still resuming),
     * never a refusal that would make the source resume its own copy too. Null for any
     * other request. Caller holds the lock.
     */
    private SwitchoverResponse repeatedSwitchover(SwitchoverRequest req) {
        if (switchoverPauseNs == 0 || req.pauseUnixNs() != switchoverPauseNs || tornDown) {
            return null;
        }
        while (switchedOver == null && state != State.FAILED) {
            try {
                lock.wait(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        return switchedOver;
    }

    /** Sync: the measurements of {@link ResumeCalibration#answer}; changes nothing. */
    @Override
    public PageTransfer.SyncResponse sync(PageTransfer.SyncRequest req) {
        long arrived = EpochClock.nowNanos();
        boolean drained = false;
        PagePlacer receiving;
        Guest g;
        synchronized (lock) {
            try {
                drained = awaitBatches(req.batchesSent(), ResumeCalibration.SYNC_DRAIN_WAIT_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            receiving = state == State.RECEIVING ? placer : null;
            g = guest;
        }
        // outside the lock: a probe of a post-copy guest may wait for a missing page
        return calibration.answer(req, arrived, drained, receiving, g);
    }

    private SwitchoverResponse fail(String why) {
        abort(why);
        return new SwitchoverResponse(false, 0, 0, 0, why);
    }

    // ---- post-copy --------------------------------------------------------------------

    @Override
    public MessageSink<PostcopySourceMessage> postcopy(MessageSink<PostcopyTargetMessage> fromTarget) {
        int generation;
        synchronized (lock) {
            generation = ++postcopyGeneration;
        }
        return new MessageSink<>() {
            @Override
            public void onNext(PostcopySourceMessage m) {
                if (m instanceof PostcopyStart) {
                    synchronized (lock) {
                        if (generation != postcopyGeneration) {
                            return; // a stream a recovery replaced: it no longer speaks for the source
                        }
                        toSource = fromTarget;
                        sourceDone = false;
                        if (postcopyPaused) {
                            error = null;
                        }
                        postcopyPaused = false;
                        faults.setRequester(r -> {
                            requestsSent.incrementAndGet();
                            synchronized (fromTarget) {
                                fromTarget.onNext(r);
                            }
                        });
                    }
                    // the requests a broken connection swallowed, or made before this start arrived
                    faults.requestOpenAgain();
                } else if (m instanceof PageData d) {
                    placer.place(d.address(), d.pageSizeBytes(), d.flags(), d.crc32c(), d.data(), 0);
                    arrivedAfterSwitchover(guest.layout().pageIndex(d.address()));
                    maybeComplete(); // a resent page may be the last one missing
                } else if (m instanceof PostcopySourceDone) {
                    synchronized (lock) {
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
                synchronized (lock) {
                    if (generation == postcopyGeneration && state == State.RUNNING) {
                        pausePostcopy("post-copy channel broke: " + t);
                    }
                }
            }
        };
    }

    /** A page came in on either stream after switchover: closes its request, or asks again if it was damaged. */
    private void arrivedAfterSwitchover(int page) {
        if (page >= 0 && placer.corrupt.get(page)) {
            faults.requestAgain(page);
        } else {
            faults.pageArrived(page);
        }
    }

    /**
     * Post-copy ends when both the background push and the priority channel say "all
     * sent" and no page that arrived damaged is still waiting for its good copy.
     */
    private void maybeComplete() {
        MessageSink<PostcopyTargetMessage> s;
        synchronized (lock) {
            if (!(pushCompleted && sourceDone && state == State.RUNNING && placer.inPostcopy())
                    || placer.corrupt.cardinality() != 0) {
                return;
            }
            state = State.COMPLETED;
            s = toSource;
            lock.notifyAll();
        }
        faults.sourceHasSentAll();
        if (s != null) {
            synchronized (s) {
                s.onNext(new PostcopyTargetDone(faults.missingFaults.get(), placer.received.cardinality()));
                s.onCompleted();
            }
        }
        completed();
    }

    /** {@code c} runs once the guest runs here with every page (COMPLETED), outside the engine's lock. */
    public void whenCompleted(java.util.function.Consumer<IncomingMigration> c) {
        onCompleted = c;
    }

    private void completed() {
        java.util.function.Consumer<IncomingMigration> c = onCompleted;
        if (c != null) {
            c.accept(this);
        }
    }

    /**
     * The guest leaves this migration for good, to run on as a guest of the node (which may
     * migrate it onward): the fault handler stops and the userfaultfd is closed, which
     * unregisters the guest's memory and clears its uffd-wp bits (userfaultfd_release), so
     * that a dirty tracker can register it afresh. A page that never arrived is a zero page
     * here as it was on the source. If the source has not verified yet, every page not
     * written since resume is checksummed first (still write-protected, so unchanged), and
     * a later verify() compares those. From then on close() leaves the guest alone. Only
     * once COMPLETED; a second call returns the same guest.
     */
    public Guest handOver() {
        synchronized (lock) {
            if (state != State.COMPLETED || tornDown) {
                throw new IllegalStateException("FAILED_PRECONDITION: migration " + migrationId + " is " + state
                        + ", its guest cannot be handed over");
            }
            if (handedOver) {
                return guest;
            }
            handedOver = true;
        }
        faults.stop();
        synchronized (verifyLock) { // a verify under way finishes on tracked memory first
            boolean freeze;
            synchronized (lock) {
                freeze = !verified;
            }
            if (freeze) {
                faults.freezeUnwritten();
            }
            ctx.close(); // wakes a vCPU that faulted meanwhile: it retries on plain memory
        }
        return guest;
    }

    /** The guest's id on its source node, as the handshake said ("" if it did not). */
    public String guestId() {
        synchronized (lock) {
            return guestId;
        }
    }

    /** The migration's id, once the handshake named it. */
    public String migrationId() {
        synchronized (lock) {
            return migrationId;
        }
    }

    // ---- bitmaps and verification -------------------------------------------------------

    @Override
    public ReceivedBitmapResponse receivedBitmap(ReceivedBitmapRequest req) {
        byte[] placed;
        synchronized (lock) {
            if (guest == null || tornDown) {
                throw new IllegalStateException("migration " + migrationId + " is " + state
                        + (error == null ? "" : ": " + error));
            }
            placed = batches.placedBitmap();
        }
        return PageAccounting.receivedBitmap(migrationId, guest.layout(), placer.received, faults, req, placed);
    }

    /**
     * Compares the source's checksums at pause with this guest as it was at resume: a page
     * not yet written here is read now, a written one was checksummed before its first write.
     */
    @Override
    public VerifyResponse verify(VerifyRequest req) {
        synchronized (verifyLock) {
            synchronized (lock) {
                verified = true;
            }
            return PageAccounting.verify(guest, faults, req);
        }
    }

    // ---- lifecycle and statistics ---------------------------------------------------------

    private void abort(String why) {
        synchronized (lock) {
            if (state == State.FAILED || state == State.COMPLETED) {
                return;
            }
            boolean running = state == State.RUNNING;
            error = running && placer.inPostcopy() ? why + "; " + missingReport() : why;
            state = State.FAILED;
            lock.notifyAll();
            if (running) {
                return; // the guest lives here now; keep it
            }
        }
        teardown();
    }

    /**
     * QEMU's postcopy-paused: the guest runs on, a vCPU that faults on a missing page waits
     * (its request is kept, not sent), and the error says which pages are missing until the
     * source reconnects with a new PostcopyStart. Caller holds the lock.
     */
    private void pausePostcopy(String why) {
        if (postcopyPaused) {
            return;
        }
        postcopyPaused = true;
        pauseReason = why;
        error = why + "; " + missingReport();
        LOG.log(System.Logger.Level.WARNING, "migration {0}: post-copy paused: {1}", migrationId, error);
        faults.setRequester(r -> { });
        lock.notifyAll();
    }

    /** Post-copy lost its connection and waits for the source to reconnect. */
    public boolean postcopyPaused() {
        synchronized (lock) {
            return postcopyPaused;
        }
    }

    private String missingReport() {
        return PageAccounting.missingReport(PageAccounting.missingByRegion(guest.layout(), placer.received))
                + "; faulting vCPUs wait for them";
    }

    /**
     * The pages this guest never received, counted per region (in layout order, regions
     * with none left out): after a post-copy whose source died, what is lost.
     */
    public java.util.Map<String, Long> missingPagesByRegion() {
        return PageAccounting.missingByRegion(guest.layout(), placer.received);
    }

    /** Stops the guest: vCPUs first, then the uffd (which wakes any asleep in a fault), the monitor, the memory. */
    private void teardown() {
        synchronized (lock) {
            if (handedOver) {
                return; // the guest belongs to the node now
            }
            tornDown = true;
        }
        if (guest != null) {
            guest.stop();
        }
        if (ctx != null) {
            ctx.close();
        }
        if (faults != null) {
            faults.stop();
        }
        if (guest != null) {
            guest.release(); // a failed or closed incoming guest gives its frames back
        }
    }

    /**
     * How long a switchover waits for batches still missing (delayed, or lost for good)
     * before it fails the migration.
     */
    public void setSwitchoverWaitMs(long ms) {
        switchoverWaitMs = ms;
    }

    public State state() {
        synchronized (lock) {
            return state;
        }
    }

    /** Waits until the migration is COMPLETED or FAILED. */
    public State awaitFinal(long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        synchronized (lock) {
            while (state != State.COMPLETED && state != State.FAILED) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    break;
                }
                lock.wait(left);
            }
            return state;
        }
    }

    public Guest guest() {
        return guest;
    }

    /** Why it failed or paused; while post-copy is paused, the pages missing as of now. */
    public String error() {
        synchronized (lock) {
            return postcopyPaused ? pauseReason + "; " + missingReport() : error;
        }
    }

    public double downtimeMs() {
        synchronized (lock) {
            return downtimeMs;
        }
    }

    public long resumeUnixNs() {
        synchronized (lock) {
            return resumeUnixNs;
        }
    }

    public MigrationMode mode() {
        return mode;
    }

    /** What this target counted so far: page requests, races, duplicates, damaged and stale pages. */
    public IncomingCounters counters() {
        synchronized (lock) {
            return new IncomingCounters(placer, faults, requestsSent.get(), batches.duplicates());
        }
    }

    public PageBitmap receivedPages() {
        return placer.received.copy();
    }

    /** Stops the guest and releases the userfaultfd. */
    @Override
    public void close() {
        teardown();
    }
}
