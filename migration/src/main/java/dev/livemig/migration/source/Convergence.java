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
 * memory left, at the walk and stream rates just measured ({@link PassRate}), plus the
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

    /**
     * What one pass over dirty pages costs, as a round measured it: the walk for the present
     * pages among them, per 2 MiB span walked, and the rate at which the stream then took
     * their bytes. The two are apart because they scale apart: the walk follows the spans
     * the pages are spread over (a hot set scattered over the guest touches every span
     * however few of its pages are left), the stream follows the bytes.
     */
    record PassRate(double walkNsPerSpan, double streamBytesPerS) {
        static final PassRate UNKNOWN = new PassRate(0, 0);

        /**
         * From a send of {@code bytes} in {@code nanos}, {@code walkNanos} of which walked
         * {@code spans} spans; {@code previous} where this send measured nothing (no bytes,
         * or no time left beside the walk).
         */
        static PassRate measured(long bytes, long nanos, long walkNanos, long spans, PassRate previous) {
            if (bytes < 0 || nanos < 0 || walkNanos < 0 || spans < 0) {
                throw new IllegalArgumentException("negative send: " + bytes + " B, " + nanos + " ns, walk "
                        + walkNanos + " ns over " + spans + " spans");
            }
            double walk = spans > 0 ? (double) walkNanos / spans : previous.walkNsPerSpan();
            double stream = bytes > 0 && nanos > walkNanos ? bytes * 1e9 / (nanos - walkNanos)
                    : previous.streamBytesPerS();
            return new PassRate(walk, stream);
        }
    }

    /** A prediction of the final pass: its walk and the whole of it (walk plus stream). */
    record TransferPrediction(double walkMs, double totalMs) {
    }

    /**
     * The part of a switchover that grows with what is left to send: the final pass's walk
     * over the {@code remainingSpans} spans holding the remaining pages at the measured cost
     * per span, plus the remaining bytes at the measured stream rate. Nothing left costs
     * nothing; bytes and no measured rate cost without bound.
     */
    static TransferPrediction predictTransfer(long remainingBytes, long remainingSpans, PassRate rate) {
        if (remainingBytes == 0) {
            return new TransferPrediction(0, 0);
        }
        double walkMs = remainingSpans * rate.walkNsPerSpan() / 1e6;
        return new TransferPrediction(walkMs, walkMs + predictTransferMs(remainingBytes, rate.streamBytesPerS()));
    }

    /**
     * The downtime a switchover now would cost: the final pass ({@link #predictTransfer})
     * plus the switchover's fixed part (which a guest with nothing left to send still pays).
     */
    static double predictDowntimeMs(long remainingBytes, long remainingSpans, PassRate rate, SwitchoverCost fixed) {
        return predictTransfer(remainingBytes, remainingSpans, rate).totalMs() + fixed.totalMs();
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
