package dev.livemig.migration.target;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.SwitchoverRequest;
import dev.livemig.migration.transport.PageTransfer.SwitchoverResponse;
import dev.livemig.mm.uffd.UserfaultfdCtx;

/**
 * The switchover of an {@link IncomingMigration} (QEMU's loadvm of the device state and
 * vm_start on the destination), with the two calls that must agree with it: a repeated
 * Switchover after a lost answer, and Sync, whose drain wait is the switchover's.
 *
 * <p>Its own class because it is the one step that changes who runs the guest: it waits
 * for every pushed batch, write-protects the whole guest (a later write is a sync WP fault
 * that records the page as dirtied since switchover), loads the vCPU states and resumes,
 * and it must answer a repeat of itself with its first answer, never a refusal that would
 * make the source resume its own copy too. Everything else the target does (streams,
 * hand-over, teardown) only ever sees the state it leaves behind.
 *
 * <p>Works on the migration's fields under its lock; the guest is started outside it.
 */
final class IncomingSwitchover {
    /** How long a switchover waits for the page stream to catch up, by default. */
    static final long SWITCHOVER_WAIT_MS = 60_000;

    private final IncomingMigration m;
    private final ResumeCalibration calibration = new ResumeCalibration();
    private volatile long waitMs = SWITCHOVER_WAIT_MS;
    /** The pause time of the Switchover that resumed the guest here, and its answer (a repeat gets the same); under m.lock. */
    private long pauseNs;
    private SwitchoverResponse switchedOver;

    IncomingSwitchover(IncomingMigration m) {
        this.m = m;
    }

    void setWaitMs(long ms) {
        waitMs = ms;
    }

    /** Waits (at most {@code waitMs}, while RECEIVING) until batches 0..n-1 are placed; caller holds the lock. */
    private boolean awaitBatches(long n, long waitMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + waitMs;
        while (m.batches.firstMissing() < n && m.state == IncomingMigration.State.RECEIVING) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return false;
            }
            m.lock.wait(left);
        }
        return m.batches.firstMissing() >= n;
    }

    SwitchoverResponse switchover(SwitchoverRequest req) {
        long arrived = EpochClock.nowNanos();
        long drained;
        synchronized (m.lock) {
            try {
                if (!awaitBatches(req.batchesSent(), waitMs) && m.state == IncomingMigration.State.RECEIVING) {
                    return fail("timed out waiting for " + req.batchesSent() + " batches, have "
                            + m.batches.placedCount() + ", first missing " + m.batches.firstMissing());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return fail("interrupted");
            }
            drained = EpochClock.nowNanos();
            if (m.state != IncomingMigration.State.RECEIVING) {
                SwitchoverResponse again = repeated(req);
                return again != null ? again
                        : new SwitchoverResponse(false, 0, 0, 0, "no incoming migration to switch over: " + m.state);
            }
            int corrupt = m.placer.corrupt.cardinality();
            if (corrupt != 0) {
                // not fatal: the received bitmap lacks these pages, the source resends them and asks again
                return new SwitchoverResponse(false, 0, 0, corrupt, corrupt
                        + " pages failed their crc32c and were dropped: resend them");
            }
            for (RegionLayout r : m.guest.layout().regions()) {
                m.ctx.writeprotect(r.startAddress(), r.sizeBytes(), UserfaultfdCtx.WRITEPROTECT_MODE_WP);
            }
            if (req.postcopy()) {
                m.placer.enterPostcopy();
                if (m.toSource == null) {
                    // the PostcopyStart is still on its way on the other stream: a fault until
                    // then is a request kept open (sent when it comes), not a page taken for zeros
                    m.faults.setRequester(r -> { });
                }
            } else {
                m.faults.sourceHasSentAll();
            }
            m.faults.start();
            m.guest.loadVcpus(req.vcpus());
            m.state = IncomingMigration.State.RUNNING;
            pauseNs = req.pauseUnixNs();
        }
        m.guest.start();
        long first = m.guest.firstInstructionNanos(10_000);
        SwitchoverResponse resp;
        synchronized (m.lock) {
            m.resumeUnixNs = first;
            // the pause stamp is the source's clock: shifted onto this one by the offset Sync measured
            m.downtimeMs = EpochClock.millisBetween(req.pauseUnixNs() + req.targetClockOffsetNs(), first);
            if (!req.postcopy()) {
                m.state = IncomingMigration.State.COMPLETED;
            }
            long missing = m.guest.layout().pages() - m.placer.received.cardinality();
            long now = EpochClock.nowNanos();
            switchedOver = new SwitchoverResponse(first != 0, first, m.downtimeMs, missing,
                    first != 0 ? "" : "the guest did not run after resume", EpochClock.millisBetween(arrived, drained),
                    first != 0 ? EpochClock.millisBetween(drained, first) : 0, EpochClock.millisBetween(arrived, now));
            m.lock.notifyAll();
            resp = switchedOver;
        }
        if (!req.postcopy()) {
            m.completed();
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
    private SwitchoverResponse repeated(SwitchoverRequest req) {
        if (pauseNs == 0 || req.pauseUnixNs() != pauseNs || m.tornDown) {
            return null;
        }
        while (switchedOver == null && m.state != IncomingMigration.State.FAILED) {
            try {
                m.lock.wait(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        return switchedOver;
    }

    /** Sync: the measurements of {@link ResumeCalibration#answer}; changes nothing. */
    PageTransfer.SyncResponse sync(PageTransfer.SyncRequest req) {
        long arrived = EpochClock.nowNanos();
        boolean drained = false;
        PagePlacer receiving;
        Guest g;
        synchronized (m.lock) {
            try {
                drained = awaitBatches(req.batchesSent(), ResumeCalibration.SYNC_DRAIN_WAIT_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            receiving = m.state == IncomingMigration.State.RECEIVING ? m.placer : null;
            g = m.guest;
        }
        // outside the lock: a probe of a post-copy guest may wait for a missing page
        return calibration.answer(req, arrived, drained, receiving, g);
    }

    private SwitchoverResponse fail(String why) {
        m.abort(why);
        return new SwitchoverResponse(false, 0, 0, 0, why);
    }
}
