package dev.livemig.migration.target;

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
import dev.livemig.migration.transport.PageTransfer.PostcopySourceMessage;
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
 *
 * <p>This class holds the migration's state and lifecycle (handshake, hand-over,
 * verification, abort and teardown, statistics); the two streams the pages come on are
 * {@link IncomingStreams}, the switchover and Sync are {@link IncomingSwitchover}, both
 * working on this state under its lock.
 */
public final class IncomingMigration implements PageChannel {
    private static final System.Logger LOG = System.getLogger(IncomingMigration.class.getName());

    public enum State { IDLE, RECEIVING, RUNNING, COMPLETED, FAILED }

    private final Kernel kernel;
    // package-private where IncomingStreams and IncomingSwitchover use them, always under lock
    final Object lock = new Object();
    State state = State.IDLE;
    String migrationId;
    private MigrationMode mode;
    Guest guest;
    UserfaultfdCtx ctx;
    PagePlacer placer;
    PostcopyFaultHandler faults;
    final BatchLedger batches = new BatchLedger();
    /** The post-copy channel of the newest PostcopyStart: where page requests and the final "done" go. */
    MessageSink<PostcopyTargetMessage> toSource;
    long resumeUnixNs;
    double downtimeMs;
    String error;
    private final AtomicLong requestsSent = new AtomicLong();
    /** Post-copy lost its connection: the guest runs, faulting vCPUs wait for a recovery. */
    private boolean postcopyPaused;
    private String pauseReason;
    /** The guest was stopped and its memory released (a failed pre-copy, or close). */
    boolean tornDown;
    /** From the handshake: how long a broken pre-copy page stream waits for the source to reconnect. */
    long reconnectTimeoutMs;
    /** The guest's id on the source node (from the handshake; "" if it sent none). */
    private String guestId = "";
    private volatile java.util.function.Consumer<IncomingMigration> onCompleted;
    /** The guest left this migration's care ({@link #handOver}): close() no longer stops it. */
    private boolean handedOver;
    /** The source verified (a hand-over before that checksums the unwritten pages first). */
    private boolean verified;
    private final Object verifyLock = new Object();
    private final IncomingStreams streams = new IncomingStreams(this);
    private final IncomingSwitchover switchover = new IncomingSwitchover(this);

    public IncomingMigration(Kernel kernel) {
        this.kernel = kernel;
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

    // ---- page stream and post-copy channel: IncomingStreams -----------------------------------

    @Override
    public MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack) {
        return streams.pushPages(ack);
    }

    @Override
    public MessageSink<PostcopySourceMessage> postcopy(MessageSink<PostcopyTargetMessage> fromTarget) {
        return streams.postcopy(fromTarget);
    }

    /**
     * A PostcopyStart arrived on the newest post-copy stream: page requests go to the source
     * on it from now on, and a pause ends. Caller holds the lock.
     */
    void postcopyStarted(MessageSink<PostcopyTargetMessage> fromTarget) {
        toSource = fromTarget;
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

    // ---- switchover and Sync: IncomingSwitchover ---------------------------------------------

    @Override
    public SwitchoverResponse switchover(SwitchoverRequest req) {
        return switchover.switchover(req);
    }

    @Override
    public PageTransfer.SyncResponse sync(PageTransfer.SyncRequest req) {
        return switchover.sync(req);
    }

    // ---- completion and hand-over ----------------------------------------------------------

    /** {@code c} runs once the guest runs here with every page (COMPLETED), outside the engine's lock. */
    public void whenCompleted(java.util.function.Consumer<IncomingMigration> c) {
        onCompleted = c;
    }

    void completed() {
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

    void abort(String why) {
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
    void pausePostcopy(String why) {
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
        switchover.setWaitMs(ms);
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
