package dev.livemig.migration;

import java.util.List;

/**
 * The control-plane data model, one type per message or enum of
 * {@code livemig/v1/migration_control.proto} (guest specs live in
 * {@code guest.GuestSpec}): a gRPC adapter maps each field by name. Units are in the
 * names, as in the proto; enum constants drop the proto's type prefix and its
 * UNSPECIFIED value (null stands for "engine default" where the proto allows it).
 */
public final class MigrationControl {
    private MigrationControl() {
    }

    /** livemig.v1.MigrationMode. */
    public enum MigrationMode { PRECOPY, POSTCOPY, HYBRID }

    /** livemig.v1.DirtyTrackerKind. */
    public enum DirtyTrackerKind { WP_ASYNC, UFFD_WP_SYNC, SOFT_DIRTY }

    /** livemig.v1.SwitchoverPolicy. */
    public enum SwitchoverPolicy { WAIT, FORCE, AUTO_CONVERGE, DIRTY_LIMIT, POSTCOPY }

    /** livemig.v1.MigrationState, in QEMU's order. */
    public enum MigrationState {
        SETUP, ACTIVE, POSTCOPY_ACTIVE, COMPLETED, FAILED, CANCELLED;

        public boolean isFinal() {
            return this == COMPLETED || this == FAILED || this == CANCELLED;
        }
    }

    /** livemig.v1.RoundDecision. */
    public enum RoundDecision { CONTINUE, THROTTLE, SWITCHOVER, POSTCOPY, FAIL }

    /**
     * livemig.v1.MigrationParameters. Zero means "engine default" as in the proto;
     * {@link #withDefaults()} fills the defaults in.
     */
    public record MigrationParameters(MigrationMode mode, long downtimeLimitMs, long bandwidthLimitBytesPerS,
                                      int maxRounds, DirtyTrackerKind tracker, SwitchoverPolicy switchoverPolicy,
                                      int throttleInitialPercent, int throttleIncrementPercent,
                                      long dirtyLimitPagesPerS, int postcopyAfterRounds, boolean manualRounds,
                                      int batchPages, boolean verifyPages, int precopyRetries,
                                      long reconnectTimeoutMs) {
        public static final long DEFAULT_DOWNTIME_LIMIT_MS = 300;
        /** How long, with precopy_retries, both sides wait for a broken page stream to come back. */
        public static final long DEFAULT_RECONNECT_TIMEOUT_MS = 10_000;

        /** The parameters without the reconnect settings (no retry: a broken pre-copy stream fails the migration). */
        public MigrationParameters(MigrationMode mode, long downtimeLimitMs, long bandwidthLimitBytesPerS,
                                   int maxRounds, DirtyTrackerKind tracker, SwitchoverPolicy switchoverPolicy,
                                   int throttleInitialPercent, int throttleIncrementPercent,
                                   long dirtyLimitPagesPerS, int postcopyAfterRounds, boolean manualRounds,
                                   int batchPages, boolean verifyPages) {
            this(mode, downtimeLimitMs, bandwidthLimitBytesPerS, maxRounds, tracker, switchoverPolicy,
                    throttleInitialPercent, throttleIncrementPercent, dirtyLimitPagesPerS, postcopyAfterRounds,
                    manualRounds, batchPages, verifyPages, 0, 0);
        }
        public static final int DEFAULT_MAX_ROUNDS = 30;
        public static final int DEFAULT_BATCH_PAGES = 256;

        public static MigrationParameters of(MigrationMode mode) {
            return new MigrationParameters(mode, 0, 0, 0, null, null, 0, 0, 0, 0, false, 0, false).withDefaults();
        }

        /** The parameters in force: every unset field replaced by its default. */
        public MigrationParameters withDefaults() {
            MigrationMode m = mode == null ? MigrationMode.PRECOPY : mode;
            SwitchoverPolicy p = switchoverPolicy != null ? switchoverPolicy
                    : m == MigrationMode.HYBRID ? SwitchoverPolicy.POSTCOPY : SwitchoverPolicy.AUTO_CONVERGE;
            if (p == SwitchoverPolicy.POSTCOPY && m != MigrationMode.HYBRID) {
                throw new IllegalArgumentException("switchover policy POSTCOPY requires mode HYBRID");
            }
            if (precopyRetries < 0 || precopyRetries > 1000 || reconnectTimeoutMs < 0) {
                throw new IllegalArgumentException("precopy_retries must be in [0, 1000] and reconnect_timeout_ms "
                        + ">= 0, not " + Integer.toUnsignedString(precopyRetries) + " and " + reconnectTimeoutMs);
            }
            return new MigrationParameters(m,
                    downtimeLimitMs == 0 ? DEFAULT_DOWNTIME_LIMIT_MS : downtimeLimitMs,
                    bandwidthLimitBytesPerS,
                    maxRounds == 0 ? DEFAULT_MAX_ROUNDS : maxRounds,
                    tracker == null ? DirtyTrackerKind.WP_ASYNC : tracker, p,
                    throttleInitialPercent == 0 ? 20 : throttleInitialPercent,
                    throttleIncrementPercent == 0 ? 10 : throttleIncrementPercent,
                    dirtyLimitPagesPerS, postcopyAfterRounds, manualRounds,
                    batchPages == 0 ? DEFAULT_BATCH_PAGES : batchPages, verifyPages, precopyRetries,
                    precopyRetries > 0 && reconnectTimeoutMs == 0 ? DEFAULT_RECONNECT_TIMEOUT_MS : reconnectTimeoutMs);
        }

        public MigrationParameters withMode(MigrationMode v) {
            return with(f -> f.mode = v);
        }

        public MigrationParameters withDowntimeLimitMs(long v) {
            return with(f -> f.downtimeLimitMs = v);
        }

        public MigrationParameters withBandwidthLimitBytesPerS(long v) {
            return with(f -> f.bandwidthLimitBytesPerS = v);
        }

        public MigrationParameters withMaxRounds(int v) {
            return with(f -> f.maxRounds = v);
        }

        public MigrationParameters withTracker(DirtyTrackerKind v) {
            return with(f -> f.tracker = v);
        }

        public MigrationParameters withSwitchoverPolicy(SwitchoverPolicy v) {
            return with(f -> f.switchoverPolicy = v);
        }

        public MigrationParameters withDirtyLimitPagesPerS(long v) {
            return with(f -> f.dirtyLimitPagesPerS = v);
        }

        public MigrationParameters withPostcopyAfterRounds(int v) {
            return with(f -> f.postcopyAfterRounds = v);
        }

        public MigrationParameters withManualRounds(boolean v) {
            return with(f -> f.manualRounds = v);
        }

        public MigrationParameters withVerifyPages(boolean v) {
            return with(f -> f.verifyPages = v);
        }

        /** Reconnects of a broken pre-copy page stream before the migration fails (0: none). */
        public MigrationParameters withPrecopyRetries(int v) {
            return with(f -> f.precopyRetries = v);
        }

        public MigrationParameters withReconnectTimeoutMs(long v) {
            return with(f -> f.reconnectTimeoutMs = v);
        }

        /** These parameters with {@code change} applied to a copy of their fields. */
        private MigrationParameters with(java.util.function.Consumer<Fields> change) {
            Fields f = new Fields(this);
            change.accept(f);
            return f.build();
        }

        /**
         * The record's fields as mutable copies: each wither changes one and builds anew, so
         * the record's constructor is named here once and not in every wither.
         */
        private static final class Fields {
            MigrationMode mode;
            long downtimeLimitMs;
            long bandwidthLimitBytesPerS;
            int maxRounds;
            DirtyTrackerKind tracker;
            SwitchoverPolicy switchoverPolicy;
            int throttleInitialPercent;
            int throttleIncrementPercent;
            long dirtyLimitPagesPerS;
            int postcopyAfterRounds;
            boolean manualRounds;
            int batchPages;
            boolean verifyPages;
            int precopyRetries;
            long reconnectTimeoutMs;

            Fields(MigrationParameters p) {
                mode = p.mode;
                downtimeLimitMs = p.downtimeLimitMs;
                bandwidthLimitBytesPerS = p.bandwidthLimitBytesPerS;
                maxRounds = p.maxRounds;
                tracker = p.tracker;
                switchoverPolicy = p.switchoverPolicy;
                throttleInitialPercent = p.throttleInitialPercent;
                throttleIncrementPercent = p.throttleIncrementPercent;
                dirtyLimitPagesPerS = p.dirtyLimitPagesPerS;
                postcopyAfterRounds = p.postcopyAfterRounds;
                manualRounds = p.manualRounds;
                batchPages = p.batchPages;
                verifyPages = p.verifyPages;
                precopyRetries = p.precopyRetries;
                reconnectTimeoutMs = p.reconnectTimeoutMs;
            }

            MigrationParameters build() {
                return new MigrationParameters(mode, downtimeLimitMs, bandwidthLimitBytesPerS, maxRounds, tracker,
                        switchoverPolicy, throttleInitialPercent, throttleIncrementPercent, dirtyLimitPagesPerS,
                        postcopyAfterRounds, manualRounds, batchPages, verifyPages, precopyRetries, reconnectTimeoutMs);
            }
        }
    }

    /** livemig.v1.RoundRecord: one pre-copy round; the stop-and-copy pass is the last one. */
    public record RoundRecord(int round, long startMs, long durationMs, long scanNs, long dirtyPages,
                              long sentPages, long zeroPages, long bytesSent, long bandwidthBytesPerS,
                              double dirtyRatePagesPerS, long remainingDirtyPages, double predictedDowntimeMs,
                              RoundDecision decision, String reason, int throttlePercent,
                              long trackerTruePositivePages, long trackerFalsePositivePages,
                              long trackerFalseNegativePages, double predictedTransferMs,
                              SwitchoverCost switchoverCost, TransferProfile transferProfile,
                              double predictedWalkMs, double predictedLookupMs, double predictedStreamBytesPerS) {
        /** The same round with the switchover's own measurement of its fixed cost. */
        public RoundRecord withSwitchoverCost(SwitchoverCost c) {
            return new RoundRecord(round, startMs, durationMs, scanNs, dirtyPages, sentPages, zeroPages, bytesSent,
                    bandwidthBytesPerS, dirtyRatePagesPerS, remainingDirtyPages, predictedDowntimeMs, decision,
                    reason, throttlePercent, trackerTruePositivePages, trackerFalsePositivePages,
                    trackerFalseNegativePages, predictedTransferMs, c, transferProfile, predictedWalkMs,
                    predictedLookupMs, predictedStreamBytesPerS);
        }
    }

    /**
     * livemig.v1.TransferProfile: where a round's page sending spent its time on the source
     * ({@code sendMs} in all, of which the present-page walk over {@code walkedSpans} 2 MiB
     * spans or the lookup of {@code lookedUpPages} pages one by one, and the waits for room
     * on the page stream).
     */
    public record TransferProfile(double sendMs, double presentWalkMs, double streamWaitMs, long batches,
                                  long walkedSpans, double presentLookupMs, long lookedUpPages) {
        public static final TransferProfile NONE = new TransferProfile(0, 0, 0, 0, 0, 0, 0);
    }

    /**
     * livemig.v1.SwitchoverCost: the fixed part of a switchover's downtime, beyond sending
     * the remaining pages; {@link #totalMs()} is the sum of the parts.
     */
    public record SwitchoverCost(double pauseMs, double finalScanMs, double controlRttMs, double targetDrainMs,
                                 double targetResumeMs) {
        public static final SwitchoverCost NONE = new SwitchoverCost(0, 0, 0, 0, 0);

        public double totalMs() {
            return pauseMs + finalScanMs + controlRttMs + targetDrainMs + targetResumeMs;
        }
    }

    /** livemig.v1.StateChange. */
    public record StateChange(MigrationState fromState, MigrationState toState, long atMs, String reason) {
    }

    /** livemig.v1.LatencySummary (from an HdrHistogram); {@code buckets} ascending, counts summing to count. */
    public record LatencySummary(long count, double meanUs, double p50Us, double p99Us, double maxUs,
                                 List<LatencyBucket> buckets) {
        public static final LatencySummary EMPTY = new LatencySummary(0, 0, 0, 0, 0);

        public LatencySummary {
            buckets = List.copyOf(buckets);
        }

        /** A summary without its distribution. */
        public LatencySummary(long count, double meanUs, double p50Us, double p99Us, double maxUs) {
            this(count, meanUs, p50Us, p99Us, maxUs, List.of());
        }
    }

    /** livemig.v1.LatencyBucket: latencies from the previous bucket's upper bound up to, not including, this one's. */
    public record LatencyBucket(long upperBoundUs, long count) {
    }

    /** livemig.v1.MigrationStats: per-migration totals. */
    public record MigrationStats(MigrationMode mode, long totalMs, long setupMs, double downtimeSourceMs,
                                 double downtimeTargetMs, double downtimeProbeMs, double predictedDowntimeMs,
                                 int rounds, long transferredPages, long duplicatedPages, long zeroPages,
                                 long bytesSent, long guestSizeBytes, long postcopyFaults,
                                 LatencySummary postcopyFaultLatency, long postcopyTargetDirtiedPages,
                                 long trackerTruePositivePages, long trackerFalsePositivePages,
                                 long trackerFalseNegativePages, long verifiedPages, long verifyMismatchPages,
                                 double targetClockOffsetMs, LatencySummary postcopyNetworkLatency,
                                 LatencySummary postcopySourceHoldLatency, LatencySummary postcopyInstallLatency) {
        public MigrationStats {
            java.util.Objects.requireNonNull(postcopyNetworkLatency, "postcopyNetworkLatency");
            java.util.Objects.requireNonNull(postcopySourceHoldLatency, "postcopySourceHoldLatency");
            java.util.Objects.requireNonNull(postcopyInstallLatency, "postcopyInstallLatency");
        }
    }

    /** livemig.v1.MigrationInfo. */
    public record MigrationInfo(String migrationId, String guestId, String targetAddress, MigrationState state,
                                MigrationParameters parameters, MigrationStats stats, List<RoundRecord> rounds,
                                List<StateChange> stateChanges, String error, long startUnixMs) {
    }

    /** livemig.v1.DirtyRatePeriod. */
    public record DirtyRatePeriod(long startMs, long durationMs, long dirtyPages, double dirtyRatePagesPerS) {
    }

    /** livemig.v1.RegionDirtyRate. */
    public record RegionDirtyRate(String regionName, long dirtyPages, double dirtyRatePagesPerS) {
    }

    /** livemig.v1.DirtyRateResult (QEMU's calc-dirty-rate, with an exact tracker). */
    public record DirtyRateResult(String guestId, DirtyTrackerKind tracker, long durationMs, long dirtyPages,
                                  double dirtyRatePagesPerS, double dirtyRateBytesPerS, long scanNs,
                                  List<DirtyRatePeriod> periods, List<RegionDirtyRate> regions) {
    }

    /**
     * livemig.v1.TransferProgress: where the migration stands within a round, sampled
     * every {@code progress_interval_ms} of a Watch.
     */
    public record TransferProgress(int round, MigrationState state, long roundSentPages, long roundRemainingPages,
                                   long totalSentPages, long totalBytesSent, long bandwidthBytesPerS,
                                   long postcopyMissingPages, long postcopyFaults) {
    }

    /** livemig.v1.ProgressEvent payloads, for Watch. */
    public interface ProgressListener {
        default void onRound(RoundRecord round) {
        }

        default void onStateChange(StateChange change) {
        }

        /** A periodic sample, for listeners added with a progress interval. */
        default void onProgress(TransferProgress progress) {
        }
    }
}
