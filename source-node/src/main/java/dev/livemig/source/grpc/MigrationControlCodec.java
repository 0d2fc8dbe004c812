package dev.livemig.source.grpc;

import dev.livemig.migration.MigrationControl;
import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.MigrationControl.RoundDecision;
import dev.livemig.migration.MigrationControl.SwitchoverPolicy;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.GuestSpec.RegionSpec;
import dev.livemig.migration.guest.GuestSpec.Workload;
import dev.livemig.proto.v1.TransferProgress;
import dev.livemig.proto.v1.DirtyRatePeriod;
import dev.livemig.proto.v1.DirtyRateResult;
import dev.livemig.proto.v1.LatencySummary;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationStats;
import dev.livemig.proto.v1.RegionDirtyRate;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.StateChange;
import dev.livemig.target.grpc.PageTransferCodec;
import java.util.ArrayList;
import java.util.List;

/**
 * The one mapping between livemig.v1.MigrationControl messages and the engine's control
 * records ({@link MigrationControl}, {@link GuestSpec}): field by field, same names.
 * UNSPECIFIED enums become null ("engine default") where the proto allows a default;
 * values the engine cannot represent are {@link IllegalArgumentException}s
 * (INVALID_ARGUMENT).
 */
public final class MigrationControlCodec {
    private static final GuestSpec DEFAULTS = GuestSpec.builder().sizeBytes(2 << 20).build();

    private MigrationControlCodec() {
    }

    // ---- enums --------------------------------------------------------------------------

    public static DirtyTrackerKind tracker(dev.livemig.proto.v1.DirtyTrackerKind k) {
        return switch (k) {
            case DIRTY_TRACKER_KIND_UNSPECIFIED -> null;
            case DIRTY_TRACKER_KIND_WP_ASYNC -> DirtyTrackerKind.WP_ASYNC;
            case DIRTY_TRACKER_KIND_UFFD_WP_SYNC -> DirtyTrackerKind.UFFD_WP_SYNC;
            case DIRTY_TRACKER_KIND_SOFT_DIRTY -> DirtyTrackerKind.SOFT_DIRTY;
            default -> throw new IllegalArgumentException("unknown tracker " + k);
        };
    }

    public static dev.livemig.proto.v1.DirtyTrackerKind tracker(DirtyTrackerKind k) {
        if (k == null) {
            return dev.livemig.proto.v1.DirtyTrackerKind.DIRTY_TRACKER_KIND_UNSPECIFIED;
        }
        return dev.livemig.proto.v1.DirtyTrackerKind.valueOf("DIRTY_TRACKER_KIND_" + k.name());
    }

    public static SwitchoverPolicy policy(dev.livemig.proto.v1.SwitchoverPolicy p) {
        return switch (p) {
            case SWITCHOVER_POLICY_UNSPECIFIED -> null;
            case SWITCHOVER_POLICY_WAIT -> SwitchoverPolicy.WAIT;
            case SWITCHOVER_POLICY_FORCE -> SwitchoverPolicy.FORCE;
            case SWITCHOVER_POLICY_AUTO_CONVERGE -> SwitchoverPolicy.AUTO_CONVERGE;
            case SWITCHOVER_POLICY_DIRTY_LIMIT -> SwitchoverPolicy.DIRTY_LIMIT;
            case SWITCHOVER_POLICY_POSTCOPY -> SwitchoverPolicy.POSTCOPY;
            default -> throw new IllegalArgumentException("unknown switchover policy " + p);
        };
    }

    public static dev.livemig.proto.v1.SwitchoverPolicy policy(SwitchoverPolicy p) {
        if (p == null) {
            return dev.livemig.proto.v1.SwitchoverPolicy.SWITCHOVER_POLICY_UNSPECIFIED;
        }
        return dev.livemig.proto.v1.SwitchoverPolicy.valueOf("SWITCHOVER_POLICY_" + p.name());
    }

    public static dev.livemig.proto.v1.MigrationState state(MigrationState s) {
        return dev.livemig.proto.v1.MigrationState.valueOf("MIGRATION_STATE_" + s.name());
    }

    public static dev.livemig.proto.v1.RoundDecision decision(RoundDecision d) {
        return d == null ? dev.livemig.proto.v1.RoundDecision.ROUND_DECISION_UNSPECIFIED
                : dev.livemig.proto.v1.RoundDecision.valueOf("ROUND_DECISION_" + d.name());
    }

    public static Workload workload(dev.livemig.proto.v1.Workload w) {
        return switch (w) {
            case WORKLOAD_UNSPECIFIED -> null;
            case WORKLOAD_UNIFORM -> Workload.UNIFORM;
            case WORKLOAD_HOTSET -> Workload.HOTSET;
            case WORKLOAD_ZIPF -> Workload.ZIPF;
            case WORKLOAD_SEQUENTIAL -> Workload.SEQUENTIAL;
            case WORKLOAD_IDLE -> Workload.IDLE;
            case WORKLOAD_READ_MOSTLY -> Workload.READ_MOSTLY;
            default -> throw new IllegalArgumentException("unknown workload " + w);
        };
    }

    // ---- guests ---------------------------------------------------------------------------

    /** A zero workload parameter takes the engine's default, as the proto says "0 means default". */
    public static GuestSpec guestSpec(dev.livemig.proto.v1.GuestSpec s) {
        List<RegionSpec> regions = new ArrayList<>();
        for (dev.livemig.proto.v1.RegionSpec r : s.getRegionsList()) {
            regions.add(new RegionSpec(r.getName(), PageTransferCodec.regionKind(r.getKind()), r.getSizeBytes(),
                    r.getPopulatedFraction(), r.getZeroPageFraction()));
        }
        if (regions.isEmpty() && s.getSizeBytes() == 0) {
            throw new IllegalArgumentException("guest spec has neither size_bytes nor regions");
        }
        checkFraction("hot_set_fraction", s.getHotSetFraction());
        checkFraction("hot_set_write_fraction", s.getHotSetWriteFraction());
        checkFraction("read_fraction", s.getReadFraction());
        if (s.getZipfExponent() < 0) {
            throw new IllegalArgumentException("zipf_exponent must not be negative");
        }
        return new GuestSpec(s.getSizeBytes(), regions, workload(s.getWorkload()), s.getWriteRatePagesPerS(),
                s.getSeed(), s.getVcpuCount(),
                or(s.getHotSetFraction(), DEFAULTS.hotSetFraction()),
                or(s.getHotSetWriteFraction(), DEFAULTS.hotSetWriteFraction()),
                or(s.getZipfExponent(), DEFAULTS.zipfExponent()),
                or(s.getReadFraction(), DEFAULTS.readFraction()));
    }

    private static void checkFraction(String name, double v) {
        if (!(v >= 0 && v <= 1)) {
            throw new IllegalArgumentException(name + " must be in [0, 1], not " + v);
        }
    }

    private static double or(double v, double dflt) {
        return v == 0 ? dflt : v;
    }

    // ---- parameters -------------------------------------------------------------------------

    /** Zero fields stay zero: {@link MigrationParameters#withDefaults()} fills them in. */
    public static MigrationParameters parameters(dev.livemig.proto.v1.MigrationParameters p) {
        return new MigrationParameters(PageTransferCodec.mode(p.getMode()), p.getDowntimeLimitMs(),
                p.getBandwidthLimitBytesPerS(), p.getMaxRounds(), tracker(p.getTracker()),
                policy(p.getSwitchoverPolicy()), p.getThrottleInitialPercent(), p.getThrottleIncrementPercent(),
                p.getDirtyLimitPagesPerS(), p.getPostcopyAfterRounds(), p.getManualRounds(), p.getBatchPages(),
                p.getVerifyPages(), p.getPrecopyRetries(), p.getReconnectTimeoutMs());
    }

    public static dev.livemig.proto.v1.MigrationParameters parameters(MigrationParameters p) {
        return dev.livemig.proto.v1.MigrationParameters.newBuilder().setMode(PageTransferCodec.mode(p.mode()))
                .setDowntimeLimitMs(p.downtimeLimitMs()).setBandwidthLimitBytesPerS(p.bandwidthLimitBytesPerS())
                .setMaxRounds(p.maxRounds()).setTracker(tracker(p.tracker()))
                .setSwitchoverPolicy(policy(p.switchoverPolicy()))
                .setThrottleInitialPercent(p.throttleInitialPercent())
                .setThrottleIncrementPercent(p.throttleIncrementPercent())
                .setDirtyLimitPagesPerS(p.dirtyLimitPagesPerS()).setPostcopyAfterRounds(p.postcopyAfterRounds())
                .setManualRounds(p.manualRounds()).setBatchPages(p.batchPages()).setVerifyPages(p.verifyPages())
                .setPrecopyRetries(p.precopyRetries()).setReconnectTimeoutMs(p.reconnectTimeoutMs())
                .build();
    }

    // ---- progress and statistics ----------------------------------------------------------

    public static RoundRecord round(MigrationControl.RoundRecord r) {
        return RoundRecord.newBuilder().setRound(r.round()).setStartMs(r.startMs()).setDurationMs(r.durationMs())
                .setScanNs(r.scanNs()).setDirtyPages(r.dirtyPages()).setSentPages(r.sentPages())
                .setZeroPages(r.zeroPages()).setBytesSent(r.bytesSent())
                .setBandwidthBytesPerS(r.bandwidthBytesPerS()).setDirtyRatePagesPerS(r.dirtyRatePagesPerS())
                .setRemainingDirtyPages(r.remainingDirtyPages()).setPredictedDowntimeMs(r.predictedDowntimeMs())
                .setDecision(decision(r.decision())).setReason(nz(r.reason()))
                .setThrottlePercent(r.throttlePercent())
                .setTrackerTruePositivePages(r.trackerTruePositivePages())
                .setTrackerFalsePositivePages(r.trackerFalsePositivePages())
                .setTrackerFalseNegativePages(r.trackerFalseNegativePages())
                .setPredictedTransferMs(finite(r.predictedTransferMs()))
                .setSwitchoverCost(switchoverCost(r.switchoverCost()))
                .setTransferProfile(transferProfile(r.transferProfile()))
                .setPredictedWalkMs(finite(r.predictedWalkMs())).setPredictedLookupMs(finite(r.predictedLookupMs()))
                .setPredictedStreamBytesPerS(finite(r.predictedStreamBytesPerS())).build();
    }

    public static dev.livemig.proto.v1.TransferProfile transferProfile(MigrationControl.TransferProfile t) {
        return dev.livemig.proto.v1.TransferProfile.newBuilder().setSendMs(t.sendMs())
                .setPresentWalkMs(t.presentWalkMs()).setStreamWaitMs(t.streamWaitMs()).setBatches(t.batches())
                .setWalkedSpans(t.walkedSpans()).setPresentLookupMs(t.presentLookupMs())
                .setLookedUpPages(t.lookedUpPages()).build();
    }

    public static dev.livemig.proto.v1.SwitchoverCost switchoverCost(MigrationControl.SwitchoverCost c) {
        return dev.livemig.proto.v1.SwitchoverCost.newBuilder().setPauseMs(c.pauseMs())
                .setFinalScanMs(c.finalScanMs()).setControlRttMs(c.controlRttMs())
                .setTargetDrainMs(c.targetDrainMs()).setTargetResumeMs(c.targetResumeMs())
                .setTotalMs(c.totalMs()).build();
    }

    /** A prediction before any bandwidth was measured is infinite; proto3 has no such double worth showing. */
    private static double finite(double v) {
        return Double.isFinite(v) ? v : 0;
    }

    public static StateChange stateChange(MigrationControl.StateChange c) {
        return StateChange.newBuilder().setFromState(state(c.fromState())).setToState(state(c.toState()))
                .setAtMs(c.atMs()).setReason(nz(c.reason())).build();
    }

    public static LatencySummary latency(MigrationControl.LatencySummary l) {
        return PageTransferCodec.latency(l);
    }

    public static MigrationStats stats(MigrationControl.MigrationStats s) {
        return MigrationStats.newBuilder().setMode(PageTransferCodec.mode(s.mode())).setTotalMs(s.totalMs())
                .setSetupMs(s.setupMs()).setDowntimeSourceMs(s.downtimeSourceMs())
                .setDowntimeTargetMs(s.downtimeTargetMs()).setDowntimeProbeMs(s.downtimeProbeMs())
                .setPredictedDowntimeMs(s.predictedDowntimeMs()).setRounds(s.rounds())
                .setTransferredPages(s.transferredPages()).setDuplicatedPages(s.duplicatedPages())
                .setZeroPages(s.zeroPages()).setBytesSent(s.bytesSent()).setGuestSizeBytes(s.guestSizeBytes())
                .setPostcopyFaults(s.postcopyFaults()).setPostcopyFaultLatency(latency(s.postcopyFaultLatency()))
                .setPostcopyTargetDirtiedPages(s.postcopyTargetDirtiedPages())
                .setTrackerTruePositivePages(s.trackerTruePositivePages())
                .setTrackerFalsePositivePages(s.trackerFalsePositivePages())
                .setTrackerFalseNegativePages(s.trackerFalseNegativePages()).setVerifiedPages(s.verifiedPages())
                .setVerifyMismatchPages(s.verifyMismatchPages())
                .setTargetClockOffsetMs(s.targetClockOffsetMs())
                .setPostcopyNetworkLatency(latency(s.postcopyNetworkLatency()))
                .setPostcopySourceHoldLatency(latency(s.postcopySourceHoldLatency()))
                .setPostcopyInstallLatency(latency(s.postcopyInstallLatency())).build();
    }

    public static MigrationInfo info(MigrationControl.MigrationInfo i, boolean omitRounds) {
        MigrationInfo.Builder b = MigrationInfo.newBuilder().setMigrationId(i.migrationId()).setGuestId(i.guestId())
                .setTargetAddress(nz(i.targetAddress())).setState(state(i.state()))
                .setParameters(parameters(i.parameters())).setStats(stats(i.stats())).setError(nz(i.error()))
                .setStartUnixMs(i.startUnixMs());
        if (!omitRounds) {
            i.rounds().forEach(r -> b.addRounds(round(r)));
        }
        i.stateChanges().forEach(c -> b.addStateChanges(stateChange(c)));
        return b.build();
    }

    public static DirtyRateResult dirtyRate(MigrationControl.DirtyRateResult r) {
        DirtyRateResult.Builder b = DirtyRateResult.newBuilder().setGuestId(r.guestId()).setTracker(tracker(r.tracker()))
                .setDurationMs(r.durationMs()).setDirtyPages(r.dirtyPages())
                .setDirtyRatePagesPerS(r.dirtyRatePagesPerS()).setDirtyRateBytesPerS(r.dirtyRateBytesPerS())
                .setScanNs(r.scanNs());
        for (MigrationControl.DirtyRatePeriod p : r.periods()) {
            b.addPeriods(DirtyRatePeriod.newBuilder().setStartMs(p.startMs()).setDurationMs(p.durationMs())
                    .setDirtyPages(p.dirtyPages()).setDirtyRatePagesPerS(p.dirtyRatePagesPerS()));
        }
        for (MigrationControl.RegionDirtyRate g : r.regions()) {
            b.addRegions(RegionDirtyRate.newBuilder().setRegionName(g.regionName()).setDirtyPages(g.dirtyPages())
                    .setDirtyRatePagesPerS(g.dirtyRatePagesPerS()));
        }
        return b.build();
    }

    private static String nz(String s) {
        return s == null ? "" : s;
    }

    static TransferProgress progress(MigrationControl.TransferProgress p) {
        return TransferProgress.newBuilder().setRound(p.round()).setState(state(p.state()))
                .setRoundSentPages(p.roundSentPages()).setRoundRemainingPages(p.roundRemainingPages())
                .setTotalSentPages(p.totalSentPages()).setTotalBytesSent(p.totalBytesSent())
                .setBandwidthBytesPerS(p.bandwidthBytesPerS()).setPostcopyMissingPages(p.postcopyMissingPages())
                .setPostcopyFaults(p.postcopyFaults()).build();
    }
}
