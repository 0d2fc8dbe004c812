package dev.livemig.migration.source;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.MigrationControl.SwitchoverCost;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.migration.transport.PageTransfer.SwitchoverResponse;
import dev.livemig.migration.transport.PageTransfer.SyncRequest;
import dev.livemig.migration.transport.PageTransfer.SyncResponse;
import java.util.function.Supplier;

/**
 * Measures what a switchover costs beyond sending the remaining pages, so that the
 * downtime prediction is not just bytes over bandwidth (QEMU's estimate has that form, and
 * that bias: it leaves out stopping the vCPUs, the last bitmap sync, the device state and
 * the destination's start).
 *
 * <p>After each pre-copy round's last batch a Sync goes to the target on the page stream's
 * connection, so it queues behind the pages still in flight as the Switchover call will;
 * the target answers once those are installed, with its resume estimate. Its round trip
 * (without the target's own time), the target's wait for the batches and the resume
 * estimate, plus the round's own scan, are the fixed part of the prediction. The same
 * parts of the real switchover are measured from the Switchover call and its answer.
 *
 * <p>Every Sync also samples the offset between the two nodes' clocks (NTP's midpoint
 * method); the sample with the shortest round trip is kept, since its midpoint is the
 * least uncertain. The Switchover request carries it, so the target measures the
 * downtime from the source's pause stamp on its own clock without the skew.
 */
final class SwitchoverCostMeter {
    private final String migrationId;
    private final Supplier<PageChannel> channel;
    private double bestRttMs = Double.POSITIVE_INFINITY;
    private long offsetNs;
    private Sample last = new Sample(0, 0, 0);

    /** One Sync: round trip without the target's time, the target's wait for batches, its resume estimate. */
    record Sample(double controlRttMs, double targetDrainMs, double targetResumeMs) {
    }

    SwitchoverCostMeter(String migrationId, Supplier<PageChannel> channel) {
        this.migrationId = migrationId;
        this.channel = channel;
    }

    /**
     * Syncs with the target after {@code batchesSent} batches. A channel without Sync, or
     * a Sync that failed, leaves the previous sample in force: a missing measurement must
     * not fail the migration (the page stream reports real trouble).
     */
    Sample sync(long batchesSent, boolean estimateResume) {
        long t0 = EpochClock.nowNanos();
        SyncResponse r;
        try {
            r = channel.get().sync(new SyncRequest(migrationId, batchesSent, estimateResume));
        } catch (RuntimeException e) {
            return last;
        }
        long t3 = EpochClock.nowNanos();
        double rttMs = Math.max(0, EpochClock.millisBetween(t0, t3) - r.handledMs());
        synchronized (this) {
            if (rttMs < bestRttMs) {
                bestRttMs = rttMs;
                offsetNs = ((r.targetReceiveUnixNs() - t0) + (r.targetReplyUnixNs() - t3)) / 2;
            }
        }
        last = new Sample(rttMs, r.drainMs(), estimateResume ? r.resumeEstimateMs() : last.targetResumeMs());
        return last;
    }

    /** The fixed part of a switchover now: {@code scanMs} for the final scan plus the last Sync. */
    SwitchoverCost estimate(double scanMs, Sample s) {
        return new SwitchoverCost(0, scanMs, s.controlRttMs(), s.targetDrainMs(), s.targetResumeMs());
    }

    /**
     * The fixed part the switchover really cost: {@code pauseMs} to stop the vCPUs, the final
     * scan, and the Switchover call of {@code callMs} split by the target's answer.
     */
    static SwitchoverCost actual(double pauseMs, double finalScanMs, double callMs, SwitchoverResponse resp) {
        return new SwitchoverCost(pauseMs, finalScanMs, Math.max(0, callMs - resp.handledMs()), resp.drainMs(),
                resp.resumeMs());
    }

    /** The target's clock minus the source's (0 until a Sync answered). */
    synchronized long targetClockOffsetNs() {
        return offsetNs;
    }
}
