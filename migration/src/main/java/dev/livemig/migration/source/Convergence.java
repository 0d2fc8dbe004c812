package dev.livemig.migration.source;

import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.RoundDecision;
import dev.livemig.migration.MigrationControl.SwitchoverCost;
import dev.livemig.migration.MigrationControl.SwitchoverPolicy;
import java.util.Locale;

/**
 * The end-of-round decision (QEMU's migration_iteration_run + migration_trigger_throttle,
 * Cloud Hypervisor's is_precopy_converged): switch over when the final pass over the dirty
 * memory left, at the costs the rounds measured ({@link PassRate}), plus the
 * switchover's fixed cost as just measured ({@link SwitchoverCostMeter}), fits the
 * downtime limit; otherwise apply the switchover policy, and always say why.
 *
 * <ul>
 * <li>WAIT: keep iterating; fail at max_rounds.</li>
 * <li>FORCE: keep iterating; switch over anyway at max_rounds.</li>
 * <li>AUTO_CONVERGE: throttle the vCPUs (initial, then +increment per round, at most
 *     99%), force the switchover at max_rounds.</li>
 * <li>DIRTY_LIMIT: cap every vCPU's write rate once, force at max_rounds.</li>
 * <li>POSTCOPY (hybrid only): switch to post-copy as soon as a round stops making
 *     progress (the dirty set did not shrink by a tenth), at postcopy_after_rounds, or at
 *     max_rounds.</li>
 * </ul>
 */
final class Convergence {
    private volatile MigrationParameters p;
    private long previousRemaining = -1;
    private int throttlePercent;
    private boolean dirtyLimited;

    Convergence(MigrationParameters p) {
        this.p = p;
    }

    /** SetParameters on a running migration: later decisions use {@code next}. */
    void update(MigrationParameters next) {
        p = next;
    }

    /** What to do, why, and the throttle for the next round. */
    record Decision(RoundDecision decision, String reason, int throttlePercent, long dirtyLimitPagesPerS) {
    }

    /** The downtime a switchover now would cost: the final pass plus the switchover's fixed part. */
    static double predictDowntimeMs(PassRate.TransferPrediction pass, SwitchoverCost fixed) {
        return pass.totalMs() + fixed.totalMs();
    }

    /** Remaining bytes at a bandwidth (QEMU's whole estimate; here the stream's part of the pass). */
    static double predictTransferMs(long remainingBytes, double bandwidthBytesPerS) {
        if (remainingBytes == 0) {
            return 0;
        }
        if (bandwidthBytesPerS <= 0) {
            return Double.POSITIVE_INFINITY;
        }
        return remainingBytes * 1000.0 / bandwidthBytesPerS;
    }

    /** Decides after round {@code round} (0-based) left {@code remainingPages} dirty. */
    Decision decide(int round, long remainingPages, double predictedMs) {
        MigrationParameters p = this.p;
        long prev = previousRemaining;
        previousRemaining = remainingPages;
        int roundsDone = round + 1;
        if (predictedMs <= p.downtimeLimitMs()) {
            return decision(RoundDecision.SWITCHOVER, String.format(Locale.ROOT,
                    "predicted %.1f ms <= limit %d ms", predictedMs, p.downtimeLimitMs()));
        }
        String over = String.format(Locale.ROOT, "predicted %s ms > limit %d ms", fmt(predictedMs),
                p.downtimeLimitMs());
        boolean hybrid = p.mode() == MigrationMode.HYBRID;
        if (hybrid && p.postcopyAfterRounds() > 0 && roundsDone >= p.postcopyAfterRounds()) {
            return decision(RoundDecision.POSTCOPY, over + "; postcopy_after_rounds " + p.postcopyAfterRounds()
                    + " reached");
        }
        boolean atMax = roundsDone >= p.maxRounds();
        SwitchoverPolicy policy = p.switchoverPolicy();
        switch (policy) {
            case POSTCOPY:
                if (atMax) {
                    return decision(RoundDecision.POSTCOPY, over + "; max rounds " + p.maxRounds() + " reached");
                }
                if (prev >= 0 && remainingPages > prev * 0.9) {
                    return decision(RoundDecision.POSTCOPY, over + "; not converging (" + prev + " -> "
                            + remainingPages + " dirty pages)");
                }
                return decision(RoundDecision.CONTINUE, over);
            case WAIT:
                return atMax ? decision(RoundDecision.FAIL, over + "; max rounds " + p.maxRounds() + " reached")
                        : decision(RoundDecision.CONTINUE, over);
            case FORCE:
                return atMax ? decision(RoundDecision.SWITCHOVER, over + "; max rounds reached, forcing switchover")
                        : decision(RoundDecision.CONTINUE, over);
            case AUTO_CONVERGE: {
                if (atMax) {
                    return decision(RoundDecision.SWITCHOVER, over + "; max rounds reached, forcing switchover");
                }
                int before = throttlePercent;
                throttlePercent = before == 0 ? p.throttleInitialPercent()
                        : Math.min(99, before + p.throttleIncrementPercent());
                return decision(RoundDecision.THROTTLE, over + "; throttle " + before + "% -> " + throttlePercent + "%");
            }
            case DIRTY_LIMIT: {
                if (atMax) {
                    return decision(RoundDecision.SWITCHOVER, over + "; max rounds reached, forcing switchover");
                }
                if (!dirtyLimited && p.dirtyLimitPagesPerS() > 0) {
                    dirtyLimited = true;
                    return decision(RoundDecision.THROTTLE, over + "; dirty limit " + p.dirtyLimitPagesPerS()
                            + " pages/s per vCPU");
                }
                return decision(RoundDecision.CONTINUE, over);
            }
            default:
                throw new IllegalStateException("policy " + policy);
        }
    }

    private Decision decision(RoundDecision d, String reason) {
        MigrationParameters p = this.p;
        return new Decision(d, reason, throttlePercent, dirtyLimited ? p.dirtyLimitPagesPerS() : 0);
    }

    int throttlePercent() {
        return throttlePercent;
    }

    private static String fmt(double ms) {
        return Double.isInfinite(ms) ? "inf" : String.format(Locale.ROOT, "%.1f", ms);
    }
}
