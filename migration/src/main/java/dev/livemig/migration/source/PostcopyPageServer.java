package dev.livemig.migration.source;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.stats.LatencyRecorder;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.PageData;
import dev.livemig.migration.transport.PageTransfer.PageRequest;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceDone;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceMessage;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The source during post-copy (QEMU's postcopy-preempt source side): the guest is stopped
 * here and runs on the target; this answers the target's page requests on the priority
 * channel as they come, and pushes every other page the target still lacks on the page
 * stream in the background. A request always gets an answer, even for a page already on
 * its way in the background (the target handles the EEXIST race); the background push
 * skips pages a request already took. A page the source never populated is answered as a
 * zero page.
 */
final class PostcopyPageServer {
    private final Guest guest;
    private final GuestLayout layout;
    private final PageBitmap needed;
    private final PageBitmap sentOnce;
    private volatile MessageSink<PostcopySourceMessage> priority;
    /** From the fault on the target to the answer queued here: the request's leg of the round trip only. */
    final LatencyRecorder requestLatency = new LatencyRecorder();
    /**
     * The whole fault latency (to the page installed on the target), as the target's "done"
     * reported it; null until then (or from a target that does not send it: count 0).
     */
    volatile dev.livemig.migration.MigrationControl.LatencySummary targetFaultLatency;
    /** The legs of those round trips, as the target split them. */
    volatile PageTransfer.PostcopyLegs targetLegs = PageTransfer.PostcopyLegs.EMPTY;
    final AtomicLong requests = new AtomicLong();
    final AtomicLong priorityBytes = new AtomicLong();
    final AtomicLong priorityPages = new AtomicLong();

    /** Pure post-copy: every populated page is the server's to send. */
    static PageBitmap populatedPages(Guest guest) {
        PageBitmap needed = new PageBitmap(guest.layout().pages());
        boolean[] present = dev.livemig.migration.stats.PageChecksums.presentPages(guest.mm(), guest.layout());
        for (int i = 0; i < present.length; i++) {
            if (present[i]) {
                needed.set(i);
            }
        }
        return needed;
    }

    PostcopyPageServer(Guest guest, PageBitmap needed, PageBitmap sentOnce,
                       MessageSink<PostcopySourceMessage> priority) {
        this.guest = guest;
        this.layout = guest.layout();
        this.needed = needed;
        this.sentOnce = sentOnce;
        this.priority = priority;
    }

    /** Pages the target still lacks that neither a request nor the background push has taken yet. */
    long neededPages() {
        return needed.cardinality();
    }

    /** When the last page request came in (System.nanoTime), 0: none yet. */
    private volatile long lastRequestNanos;

    long lastRequestNanos() {
        return lastRequestNanos;
    }

    /** A missing-page fault on the target: answer at once. */
    void onRequest(PageRequest r) {
        long taken = System.nanoTime();
        dev.livemig.migration.FaultPathPriority.runUrgent(); // this answers on the priority stream's transport thread
        lastRequestNanos = taken;
        requests.incrementAndGet();
        int page = layout.pageIndex(r.address());
        if (page < 0) {
            return;
        }
        int size = (int) layout.pageSize(page);
        long addr = layout.pageAddress(page);
        byte[] buf = new byte[size];
        PageData d;
        // Claim, read and send as one step against "done": a page claimed here must reach
        // the priority stream before PostcopySourceDone, or the target would take its
        // absence for a page the source never had.
        MessageSink<PostcopySourceMessage> priority = this.priority;
        synchronized (priority) {
            needed.clear(page);
            sentOnce.set(page);
            boolean zero = !PageChecksums.present(guest.mm(), addr)
                    || PageChecksums.read(guest.mm(), addr, size, buf);
            int flags = PageTransfer.PAGE_FLAG_WRITE_PROTECT | (zero ? PageTransfer.PAGE_FLAG_ZERO : 0);
            int crc = zero ? PageTransfer.zeroCrc(size) : PageTransfer.crc32c(buf, 0, size);
            d = new PageData(r.requestId(), addr, flags, crc, size, zero ? new byte[0] : buf,
                    Math.max(1, System.nanoTime() - taken));
            priority.onNext(d);
        }
        priorityPages.incrementAndGet();
        priorityBytes.addAndGet(d.data().length + 32L);
        requestLatency.recordNanos(EpochClock.nowNanos() - r.faultUnixNs());
    }

    /**
     * Post-copy recovery: answers go to a new priority stream, and every page the target's
     * received bitmap lacks is needed again.
     */
    void reattach(MessageSink<PostcopySourceMessage> newPriority, PageBitmap missingOnTarget) {
        priority = newPriority;
        needed.or(missingOnTarget);
    }

    /** The background push: every page still needed, then "done" on both streams. */
    void pushRest(PageSender sender, int round, MessageSink<?> pushStream) {
        PageSender.Transfer t = sender.sendPages(needed, round, PageTransfer.PAGE_FLAG_WRITE_PROTECT, true);
        pushStream.onCompleted();
        MessageSink<PostcopySourceMessage> priority = this.priority;
        synchronized (priority) {
            priority.onNext(new PostcopySourceDone(t.pages() + priorityPages.get()));
        }
    }
}
