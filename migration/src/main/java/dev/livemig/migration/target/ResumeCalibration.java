package dev.livemig.migration.target;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.transport.PageTransfer;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * What a resume will cost on this target, measured before the switchover so that the
 * source can add it to its downtime prediction (Sync's resume_estimate_ms), and Sync's
 * other measurements.
 *
 * <p>A pre-copy resume write-protects the whole guest (UFFDIO_WRITEPROTECT, so that later
 * guest writes are tracked) and starts the vCPU threads; the first guest instruction ends
 * the downtime. The write-protect is rehearsed on the guest's own page tables and lifted
 * again ({@link PagePlacer#rehearseWriteProtectNanos}): its cost grows with the pages and
 * page-table pages installed and shrinks with huge pages, which a sample elsewhere would
 * not reproduce (a scratch address space of 4096 pages, tried first, was off by 2-10x,
 * mostly by cache and JIT effects). The vCPU start is timed as a thread started and seen
 * running, the scheduler's latency at the moment.
 *
 * <p>The rehearsal costs twice the write-protect per Sync (once per pre-copy round), and
 * installs wait meanwhile: 2 x 30 ms for a 1 GiB guest of 4 KiB pages, against rounds of
 * seconds.
 */
final class ResumeCalibration {
    /** A Sync's wait for batches in flight: longer means the page stream is stuck, not draining. */
    static final long SYNC_DRAIN_WAIT_MS = 1000;

    /**
     * Sync's answer: the target's clock at arrival and reply, the wait for the batches in
     * flight, the resume estimate if asked for (and there is a guest being received), and
     * whether {@code guest} answers a probe here (it runs on this node).
     */
    PageTransfer.SyncResponse answer(PageTransfer.SyncRequest req, long arrivedUnixNs, boolean drained,
                                     PagePlacer receiving, Guest guest) {
        double drainMs = EpochClock.millisBetween(arrivedUnixNs, EpochClock.nowNanos());
        double resumeMs = req.estimateResume() && receiving != null ? estimateMs(receiving) : 0;
        boolean answered = guest != null && guest.probe();
        return new PageTransfer.SyncResponse(arrivedUnixNs, EpochClock.nowNanos(), drainMs, drained, resumeMs,
                answered);
    }

    /** Milliseconds a resume is expected to take now: the rehearsed write-protect and a thread's start. */
    double estimateMs(PagePlacer placer) {
        return (placer.rehearseWriteProtectNanos() + threadStartNanos()) / 1e6;
    }

    /** From Thread.start() to the new thread running, as a vCPU's start after resume. */
    private static long threadStartNanos() {
        CountDownLatch ran = new CountDownLatch(1);
        long[] at = new long[1];
        Thread t = new Thread(() -> {
            at[0] = System.nanoTime();
            ran.countDown();
        }, "resume-calibration");
        t.setDaemon(true);
        long t0 = System.nanoTime();
        t.start();
        try {
            if (!ran.await(10, TimeUnit.SECONDS)) {
                return System.nanoTime() - t0;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return System.nanoTime() - t0;
        }
        return at[0] - t0;
    }
}
