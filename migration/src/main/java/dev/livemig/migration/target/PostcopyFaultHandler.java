package dev.livemig.migration.target;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.stats.LatencyRecorder;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.PageRequest;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The target's userfaultfd monitor once the guest runs there (QEMU's
 * postcopy_ram_fault_thread), handling two kinds of fault:
 *
 * <ul>
 * <li>MISSING: the page has not arrived. Unless it arrived meanwhile (then the vCPU is
 *     just woken) or it was already requested, a PageRequest goes to the source over the
 *     priority channel; the answer's UFFDIO_COPY wakes every vCPU waiting on the page.
 *     Once the source has sent everything, a page still missing never existed there and
 *     is filled with zeros locally.</li>
 * <li>WP: the guest writes a page for the first time since switchover. The page's
 *     contents are checksummed before the write is let through (the vCPU is blocked), so
 *     verification can compare every page as it was at resume; the page is marked
 *     dirtied-since-switchover and unprotected, which wakes the vCPU.</li>
 * </ul>
 *
 * <p>Fault latency is measured from reading the fault to installing the page.
 */
final class PostcopyFaultHandler implements Runnable {
    private final Guest guest;
    private final GuestLayout layout;
    private final UserfaultfdCtx ctx;
    private final PagePlacer placer;
    final PageBitmap requested;
    final PageBitmap dirtied;
    final int[] crcAtFirstWrite;
    /** Set at hand-over: the checksum of every page not written since resume, as it still was then. */
    volatile int[] crcAtHandOver;
    final LatencyRecorder faultLatency = new LatencyRecorder();
    /** The round trips answered on the priority stream, split (see PageTransfer.PostcopyLegs). */
    final LatencyRecorder network = new LatencyRecorder();
    final LatencyRecorder sourceHold = new LatencyRecorder();
    final LatencyRecorder install = new LatencyRecorder();
    final AtomicLong missingFaults = new AtomicLong();
    final AtomicLong wpFaults = new AtomicLong();
    private final ConcurrentHashMap<Integer, Long> faultNanos = new ConcurrentHashMap<>();
    private final AtomicLong nextRequestId = new AtomicLong(1);
    private volatile Consumer<PageRequest> requester;
    private volatile boolean sourceHasSentAll;
    private volatile boolean running = true;
    private Thread thread;

    PostcopyFaultHandler(Guest guest, UserfaultfdCtx ctx, PagePlacer placer) {
        this.guest = guest;
        this.layout = guest.layout();
        this.ctx = ctx;
        this.placer = placer;
        this.requested = new PageBitmap(layout.pages());
        this.dirtied = new PageBitmap(layout.pages());
        this.crcAtFirstWrite = new int[layout.pages()];
    }

    void start() {
        thread = new Thread(this, "postcopy-fault-" + guest.mm().pid());
        thread.setPriority(Thread.MAX_PRIORITY); // see FaultPathPriority
        thread.setDaemon(true);
        thread.start();
    }

    /** Where page requests go (the priority channel); null: every missing page is local. */
    void setRequester(Consumer<PageRequest> r) {
        requester = r;
    }

    /**
     * The source has sent every page it has: requests still open are for pages it never
     * had, which are zeros.
     */
    void sourceHasSentAll() {
        sourceHasSentAll = true;
        for (int p = requested.nextSet(0); p >= 0; p = requested.nextSet(p + 1)) {
            fillZero(p);
        }
    }

    @Override
    public void run() {
        while (running) {
            UffdMsg msg = ctx.read(20_000_000L);
            if (msg == null || !msg.isPagefault()) {
                continue;
            }
            int page = layout.pageIndex(msg.address());
            if (page < 0) {
                continue;
            }
            try {
                if (msg.wp()) {
                    onWriteProtectFault(page);
                } else {
                    onMissingFault(page);
                }
            } catch (KernelException e) {
                // the range went away (shutdown); wake so the vCPU sees the new state
                ctx.wake(layout.pageAddress(page), layout.pageSize(page));
            }
        }
    }

    /** Read buffer of {@link #onWriteProtectFault}, which only the fault thread runs. */
    private byte[] wpScratch = new byte[0];

    private void onWriteProtectFault(int page) {
        long addr = layout.pageAddress(page);
        int size = (int) layout.pageSize(page);
        wpFaults.incrementAndGet();
        if (!dirtied.get(page)) {
            if (wpScratch.length < size) {
                wpScratch = new byte[size]; // one per fault thread: a 2 MiB page each fault was a humongous array
            }
            crcAtFirstWrite[page] = PageChecksums.crc(guest.mm(), addr, size, wpScratch);
            dirtied.set(page);
        }
        ctx.writeprotect(addr, size, 0);
    }

    private void onMissingFault(int page) {
        long addr = layout.pageAddress(page);
        long size = layout.pageSize(page);
        missingFaults.incrementAndGet();
        if (placer.received.get(page)) {
            ctx.wakeIoctl(addr, size); // installed between the fault and now
            return;
        }
        Consumer<PageRequest> r = requester;
        if (sourceHasSentAll || r == null) {
            fillZero(page);
            return;
        }
        long now = EpochClock.nowNanos();
        if (requested.set(page)) {
            faultNanos.put(page, now);
            send(r, new PageRequest(nextRequestId.getAndIncrement(), addr, 0, now));
            if (sourceHasSentAll) {
                fillZero(page); // raced with the source's last message
            }
        }
    }

    /**
     * A page the source sent arrived damaged after switchover: ask for it again on the
     * priority channel (whether or not a vCPU waits for it), so it is never taken for a
     * page the source did not have.
     */
    void requestAgain(int page) {
        Consumer<PageRequest> r = requester;
        if (r == null) {
            return;
        }
        long now = EpochClock.nowNanos();
        requested.set(page);
        faultNanos.putIfAbsent(page, now);
        send(r, new PageRequest(nextRequestId.getAndIncrement(), layout.pageAddress(page), -1, now));
    }

    /**
     * A request onto a priority channel that may just have broken: if the transport
     * throws, the request stays open (a recovery sends it again) and this monitor, which
     * every faulting vCPU depends on, keeps running.
     */
    private static void send(Consumer<PageRequest> r, PageRequest req) {
        try {
            r.accept(req);
        } catch (RuntimeException e) {
            // the channel's break reaches the engine as an error on the stream
        }
    }

    /** After a post-copy recovery: sends every open request again on the new priority stream. */
    void requestOpenAgain() {
        for (int p = requested.nextSet(0); p >= 0; p = requested.nextSet(p + 1)) {
            requestAgain(p);
        }
    }

    private void fillZero(int page) {
        int size = (int) layout.pageSize(page);
        placer.place(layout.pageAddress(page), size, PageTransfer.PAGE_FLAG_ZERO | PageTransfer.PAGE_FLAG_WRITE_PROTECT,
                PageTransfer.zeroCrc(size), null, 0);
        pageArrived(page);
    }

    /**
     * An answer from the priority stream, read at {@code readNanos}, is installed (call
     * before {@link #pageArrived}, which closes the request): records the split of its
     * round trip, if a fault waits for it and the source measured its hold. No two clocks
     * are compared: the source's hold is a duration on its own.
     */
    void answerInstalled(int page, long sourceHoldNanos, long readNanos) {
        Long fault = page < 0 || sourceHoldNanos <= 0 ? null : faultNanos.get(page);
        if (fault == null) {
            return;
        }
        network.recordNanos(Math.max(0, readNanos - fault - sourceHoldNanos));
        sourceHold.recordNanos(sourceHoldNanos);
        install.recordNanos(EpochClock.nowNanos() - readNanos);
    }

    PageTransfer.PostcopyLegs legs() {
        return new PageTransfer.PostcopyLegs(network.summary(), sourceHold.summary(), install.summary());
    }

    /** A page reached the target (either stream): closes its request and records the latency. */
    void pageArrived(int page) {
        if (requested.clear(page)) {
            Long t = faultNanos.remove(page);
            if (t != null) {
                faultLatency.recordNanos(EpochClock.nowNanos() - t);
            }
        }
    }

    /**
     * Before the userfaultfd goes (hand-over): checksums every page the guest has not
     * written since resume. Call with this monitor stopped and the memory still
     * write-protected: a vCPU that writes such a page meanwhile waits in its WP fault, so
     * the page is as it was at resume; verification afterwards no longer needs the memory.
     */
    void freezeUnwritten() {
        int[] crcs = new int[layout.pages()];
        byte[] buf = new byte[0];
        for (int p = 0; p < crcs.length; p++) {
            if (!dirtied.get(p)) {
                int size = (int) layout.pageSize(p);
                if (buf.length != size) {
                    buf = new byte[size];
                }
                crcs[p] = PageChecksums.crc(guest.mm(), layout.pageAddress(p), size, buf);
            }
        }
        crcAtHandOver = crcs;
    }

    long openRequests() {
        return requested.cardinality();
    }

    /**
     * Waits, at most {@code maxNanos}, until no request of a faulting vCPU is open: the
     * background push's placement stands back while a priority answer is on its way, so
     * that the answer's placement and the vCPU's wake-up find a free core (and the
     * page-table lock free). Bounded, since the push may carry the very page asked for.
     */
    void yieldToFaults(long maxNanos) {
        long end = System.nanoTime() + maxNanos;
        while (!faultNanos.isEmpty() && running) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                return;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(Math.min(left, 50_000));
        }
    }

    void stop() {
        running = false;
        if (thread != null) {
            try {
                thread.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
