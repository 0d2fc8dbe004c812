package dev.livemig.migration.source;

import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.TransferProfile;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.transport.BatchBuffers;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Packs guest pages into {@link PageBatch}es on the page stream (QEMU's
 * ram_save_host_page + the multifd packet): one page size per batch, zero pages as a flag
 * without data, a CRC-32C per page, and the bandwidth limit applied as a pacing of the
 * stream. It keeps the transfer totals of the whole migration.
 */
final class PageSender {
    private final String migrationId;
    private final Guest guest;
    private final GuestLayout layout;
    private volatile MessageSink<PageBatch> sink;
    private final int batchPages;
    private volatile long bandwidthLimit;
    private final BooleanSupplier cancelled;
    private volatile Supplier<Throwable> streamError;
    /** Pages the target has received at least once (for RESENT and duplicate counts). */
    final PageBitmap sentOnce;
    /** Per page, the sequence of the batch that last carried it: after a broken stream, which pages were lost. */
    private final long[] lastSequence;
    private long sequence;
    private long streamStartNanos;
    private long totalBytesAtReset;
    // written by the one thread that sends at a time, read by stats and progress samples
    volatile long totalBytes;
    volatile long totalPages;
    volatile long totalZeroPages;
    volatile long duplicatedPages;
    // the sendPages call under way, for progress samples
    private volatile long callPlannedPages;
    private volatile long callSentPages;
    private volatile long callStartNanos;
    private volatile long callStartBytes;

    // the batch being built
    private volatile int curRound;
    private int curSize;
    private final long[] addrs;
    private final int[] flags;
    private final int[] crcs;
    private int n;
    /**
     * The pages with data of the batch being built, read straight from guest memory into
     * place and handed over with the batch: no per-page buffer, no copy into a stream.
     */
    private byte[] data = EMPTY;
    private int dataLen;

    private static final byte[] EMPTY = new byte[0];

    PageSender(String migrationId, Guest guest, MessageSink<PageBatch> sink, MigrationParameters p,
               BooleanSupplier cancelled, Supplier<Throwable> streamError) {
        this.streamError = streamError;
        this.migrationId = migrationId;
        this.guest = guest;
        this.layout = guest.layout();
        this.sink = sink;
        this.batchPages = p.batchPages();
        this.bandwidthLimit = p.bandwidthLimitBytesPerS();
        this.cancelled = cancelled;
        this.sentOnce = new PageBitmap(layout.pages());
        this.lastSequence = new long[layout.pages()];
        this.addrs = new long[batchPages];
        this.flags = new int[batchPages];
        this.crcs = new int[batchPages];
    }

    /** Unwinds a migration step when a cancel was requested (checked between batches). */
    static final class Cancelled extends RuntimeException {
        Cancelled() {
            super("migration cancelled", null, false, false);
        }
    }

    /** The target ended the page stream with an error (it died, or the connection broke). */
    static final class StreamBroken extends RuntimeException {
        StreamBroken(Throwable cause) {
            super("page stream broke: " + cause, cause);
        }
    }

    private void checkStream() {
        Throwable t = streamError.get();
        if (t != null) {
            throw new StreamBroken(t);
        }
    }

    /**
     * Counts of one {@link #sendPages} call, and where its time went: {@code walkNanos} finding
     * the present pages among those to send by PAGEMAP_SCAN over the {@code walkedSpans}
     * spans that hold one, or {@code lookupNanos} finding them by {@code lookups} pagemap
     * entries (a walking send also looks a sample up: {@code lookupNanosPerPage} is its
     * shortest round's cost per page, a looking-up send's own mean),
     * {@code waitNanos} waiting for the page stream to take a batch (its buffers were full:
     * the transport or the target set the pace), {@code batches} handed over.
     */
    record Transfer(long pages, long zeroPages, long bytes, long nanos, long walkNanos, long waitNanos,
                    long batches, long walkedSpans, long lookupNanos, long lookups, double lookupNanosPerPage) {
        /** Nothing sent, {@code nanos} spent. */
        static Transfer none(long nanos) {
            return new Transfer(0, 0, 0, nanos, 0, 0, 0, 0, 0, 0, 0);
        }

        /** The time the send spent beside finding the present pages: the stream's. */
        long streamNanos() {
            return nanos - walkNanos - lookupNanos;
        }

        /** The record's form of where the time went. */
        TransferProfile profile() {
            return new TransferProfile(nanos / 1e6, walkNanos / 1e6, waitNanos / 1e6, batches, walkedSpans,
                    lookupNanos / 1e6, lookups);
        }
    }

    /** Nanoseconds spent in the sink's onNext (waiting for room on the stream) since the sender was made. */
    private long waitNanos;

    /** Pages looked up per sample round by a walking send, and the sample rounds (the shortest counts). */
    static final int LOOKUP_SAMPLE_PAGES = 200;
    static final int LOOKUP_SAMPLE_ROUNDS = 5;

    /**
     * Sends every page set in {@code pages} (clearing it there as it goes) as part of
     * {@code round}, finding the present ones by the span walk; the last batch is marked
     * round-complete if asked.
     */
    Transfer sendPages(PageBitmap pages, int round, int extraFlags, boolean roundComplete) {
        return sendPages(pages, round, extraFlags, roundComplete, PageChecksums.PresentMethod.WALK, false);
    }

    /**
     * As {@link #sendPages(PageBitmap, int, int, boolean)}, finding the present pages
     * {@code how}. A walking send asked to {@code sampleLookups} also times the lookup of a
     * small sample of its pages, so that the cost per page is known before a pass would
     * rather look its pages up (a pre-copy round; not a post-copy push, which never would).
     */
    Transfer sendPages(PageBitmap pages, int round, int extraFlags, boolean roundComplete,
                       PageChecksums.PresentMethod how, boolean sampleLookups) {
        long t0 = System.nanoTime();
        long bytes0 = totalBytes;
        long pages0 = totalPages;
        long zero0 = totalZeroPages;
        curRound = round;
        callStartBytes = bytes0;
        callSentPages = 0;
        callPlannedPages = pages.cardinality();
        callStartNanos = t0;
        long wait0 = waitNanos;
        long seq0 = sequence;
        PageChecksums.PresentWalk walk = PageChecksums.findPresent(guest.mm(), layout, pages, how);
        boolean[] present = walk.present();
        long found = System.nanoTime() - t0;
        long walked = how == PageChecksums.PresentMethod.WALK ? found : 0;
        long lookedUp = walk.lookups();
        long lookupNanos = found - walked;
        double perPage;
        if (sampleLookups && how == PageChecksums.PresentMethod.WALK && walk.spans() > 0) {
            long s0 = System.nanoTime();
            PageChecksums.LookupSample sample = PageChecksums.sampleLookups(guest.mm(), layout, pages,
                    LOOKUP_SAMPLE_PAGES, LOOKUP_SAMPLE_ROUNDS);
            // the sample's time is the send's (it is spent here), its cost per page the shortest round's
            lookupNanos = System.nanoTime() - s0;
            lookedUp = sample.pages();
            perPage = sample.nanosPerPage();
        } else {
            perPage = lookedUp > 0 ? (double) lookupNanos / lookedUp : 0;
        }
        for (int p = pages.nextSet(0); p >= 0; p = pages.nextSet(p + 1)) {
            if (cancelled.getAsBoolean()) {
                throw new Cancelled();
            }
            if (!pages.clear(p)) {
                continue; // claimed meanwhile (a post-copy priority answer sent it)
            }
            try {
                // a page set in {@code pages} after the walk (a post-copy recovery adds the
                // target's missing ones) was not walked: ask pagemap before calling it zeros
                addPage(p, present[p] || PageChecksums.present(guest.mm(), layout.pageAddress(p)), extraFlags);
            } catch (StreamBroken e) {
                pages.set(p); // claimed but in no batch (the flush of the previous one broke): still to send
                throw e;
            }
            callSentPages++;
        }
        flush(roundComplete);
        return new Transfer(totalPages - pages0, totalZeroPages - zero0, totalBytes - bytes0, System.nanoTime() - t0,
                walked, waitNanos - wait0, sequence - seq0, walk.spans(), lookupNanos, lookedUp, perPage);
    }

    /** Tells the target to drop its copies of {@code pages} (post-copy discard). */
    void sendDiscards(PageBitmap pages, int round) {
        curRound = round;
        for (int p = pages.nextSet(0); p >= 0; p = pages.nextSet(p + 1)) {
            startPage(p);
            addrs[n] = layout.pageAddress(p);
            flags[n] = PageTransfer.PAGE_FLAG_DISCARD;
            crcs[n] = 0;
            n++;
        }
        flush(false);
    }

    private void startPage(int p) {
        int size = (int) layout.pageSize(p);
        if (n > 0 && (size != curSize || n == pagesPerBatch(curSize))) {
            flush(false);
        }
        if (n == 0) {
            yieldToUrgent(); // before reading the next batch's pages, the larger part of its cost
        }
        curSize = size;
    }

    private void addPage(int p, boolean present, int extraFlags) {
        startPage(p);
        if (data.length < pagesPerBatch(curSize) * curSize) {
            data = BatchBuffers.SEND.take(pagesPerBatch(curSize) * curSize);
        }
        long addr = layout.pageAddress(p);
        boolean zero = !present || PageChecksums.read(guest.mm(), addr, curSize, data, dataLen);
        int f = extraFlags;
        if (zero) {
            f |= PageTransfer.PAGE_FLAG_ZERO;
            crcs[n] = PageTransfer.zeroCrc(curSize);
            totalZeroPages++;
        } else {
            crcs[n] = PageTransfer.crc32c(data, dataLen, curSize);
            dataLen += curSize;
        }
        if (!sentOnce.set(p)) {
            f |= PageTransfer.PAGE_FLAG_RESENT;
            duplicatedPages++;
        }
        addrs[n] = addr;
        flags[n] = f;
        lastSequence[p] = sequence;
        n++;
        totalPages++;
    }

    /** Data of one batch at most, so that a batch of 2 MiB pages is not a buffer of 512 MiB. */
    private static final int MAX_BATCH_DATA_BYTES = 16 << 20;

    /** batch-pages, or fewer for pages so large that the batch would pass {@link #MAX_BATCH_DATA_BYTES}. */
    private int pagesPerBatch(int pageSize) {
        return Math.max(1, Math.min(batchPages, MAX_BATCH_DATA_BYTES / pageSize));
    }

    /** Sends the batch being built (an empty one only to carry round-complete). */
    void flush(boolean roundComplete) {
        if (n == 0 && !roundComplete) {
            return;
        }
        checkStream();
        // the buffer goes with the batch, whole: a transport that copies the batch out gives
        // it back to BatchBuffers.SEND (gRPC, once serialised), one that hands the batch
        // itself on (in memory) lets the receiver keep it; the next batch takes another
        byte[] payload = dataLen == 0 ? EMPTY : data;
        PageBatch b = new PageBatch(migrationId, curRound, sequence++, curSize == 0 ? 4096 : curSize,
                java.util.Arrays.copyOf(addrs, n), java.util.Arrays.copyOf(flags, n),
                java.util.Arrays.copyOf(crcs, n), payload, roundComplete, 0, dataLen);
        if (dataLen > 0) {
            data = EMPTY;
        }
        n = 0;
        dataLen = 0;
        if (roundComplete) {
            // a finished migration is kept for GetInfo, and with it this sender: no buffer of
            // up to 16 MiB (eight hugetlb pages) stays with it
            BatchBuffers.SEND.give(data);
            data = EMPTY;
        }
        pace(b.wireBytes());
        long w0 = System.nanoTime();
        try {
            sink.onNext(b);
        } catch (Cancelled e) {
            throw e;
        } catch (RuntimeException e) {
            // the transport refused the batch because its call is gone (gRPC: CANCELLED, UNAVAILABLE)
            Throwable why = streamError.get();
            throw new StreamBroken(why != null ? why : e);
        } finally {
            waitNanos += System.nanoTime() - w0;
        }
        totalBytes += b.wireBytes();
    }

    /**
     * How long the background push stands still after a post-copy page request came in
     * (QEMU's postcopy-preempt gives urgent pages precedence over the background stream):
     * on few cores the answer, its placement on the target and the vCPU's wake-up otherwise
     * wait for a core behind the push's reading, checksumming and serialising.
     */
    static final long YIELD_AFTER_REQUEST_NANOS = 500_000;
    private volatile java.util.function.LongSupplier lastUrgentNanos;

    /** From now on each batch waits until no urgent request came in for {@link #YIELD_AFTER_REQUEST_NANOS}. */
    void yieldTo(java.util.function.LongSupplier lastRequestNanos) {
        this.lastUrgentNanos = lastRequestNanos;
    }

    private void yieldToUrgent() {
        java.util.function.LongSupplier last = lastUrgentNanos;
        if (last == null) {
            return;
        }
        for (int i = 0; i < 20; i++) { // bounded: a steady stream of requests still lets the push go on
            long t = last.getAsLong();
            long wait = t == 0 ? 0 : t + YIELD_AFTER_REQUEST_NANOS - System.nanoTime();
            if (wait <= 0 || cancelled.getAsBoolean()) {
                return;
            }
            LockSupport.parkNanos(wait);
        }
    }

    /** max-bandwidth changed while running (0: unlimited); pacing restarts from now. */
    void setBandwidthLimit(long bytesPerS) {
        bandwidthLimit = bytesPerS;
    }

    /** max-bandwidth: the stream may not get ahead of limit * elapsed time. */
    private void pace(long bytes) {
        long bandwidthLimit = this.bandwidthLimit;
        if (bandwidthLimit <= 0) {
            return;
        }
        long now = System.nanoTime();
        if (streamStartNanos == 0) {
            streamStartNanos = now;
        }
        long due = streamStartNanos + (long) ((totalBytes - totalBytesAtReset + bytes) * 1e9 / bandwidthLimit);
        while (due > now) {
            if (cancelled.getAsBoolean()) {
                throw new Cancelled();
            }
            LockSupport.parkNanos(Math.min(due - now, 5_000_000L));
            now = System.nanoTime();
        }
    }

    /** The round of the pages being sent. */
    int currentRound() {
        return curRound;
    }

    /** Pages the running (or last) sendPages call has sent. */
    long roundSentPages() {
        return callSentPages;
    }

    /** Pages the running sendPages call still has to send. */
    long roundRemainingPages() {
        return Math.max(0, callPlannedPages - callSentPages);
    }

    /** Bytes per second since the running (or last) sendPages call began. */
    long callBandwidthBytesPerS() {
        long start = callStartNanos;
        long ns = System.nanoTime() - start;
        return start == 0 || ns <= 0 ? 0 : (long) ((totalBytes - callStartBytes) * 1e9 / ns);
    }

    /**
     * Post-copy recovery: later batches go to a new page stream. Sequences go on from
     * where they were, so the target still tells a newer copy from an older one; the
     * half-built batch is dropped (its pages are in the resend set anyway).
     */
    void reattach(MessageSink<PageBatch> newSink, Supplier<Throwable> newStreamError) {
        n = 0;
        dataLen = 0;
        sink = newSink;
        streamError = newStreamError;
        resetPacing();
    }

    /**
     * The pages a broken stream may have lost: every page sent whose last batch the
     * target has not placed, or that the target lacks (dropped for a bad checksum).
     */
    PageBitmap lostOn(PageTransfer.ReceivedBitmapResponse target) {
        PageBitmap lost = new PageBitmap(layout.pages());
        for (PageTransfer.RegionBitmap rb : target.regions()) {
            int base = layout.firstPage(layout.regions().indexOf(layout.region(rb.regionName())));
            byte[] got = rb.received();
            for (int i = 0; i < rb.pageCount(); i++) {
                int p = base + i;
                if (sentOnce.get(p) && ((got[i >>> 3] & (1 << (i & 7))) == 0 || !target.placed(lastSequence[p]))) {
                    lost.set(p);
                }
            }
        }
        return lost;
    }

    /** Batches sent so far (the Switchover request tells the target to wait for them). */
    long batchesSent() {
        return sequence;
    }

    /** Restarts the bandwidth clock, e.g. after the stream sat idle between rounds. */
    void resetPacing() {
        streamStartNanos = 0;
        totalBytesAtReset = totalBytes;
    }
}
