package dev.livemig.migctl;

import dev.livemig.migration.MigrationControl;
import dev.livemig.proto.v1.LatencySummary;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.MigrationStats;
import dev.livemig.proto.v1.RoundDecision;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.StateChange;

/**
 * Engine records (dev.livemig.migration.MigrationControl) as proto messages, for tests
 * that feed migctl real records from an in-process migration. The production codec lives
 * in the nodes; this one is test-only on purpose and maps only what migctl displays.
 */
final class EngineRecords {
    private EngineRecords() {
    }

    static MigrationInfo info(MigrationControl.MigrationInfo i) {
        MigrationInfo.Builder b = MigrationInfo.newBuilder()
                .setMigrationId(i.migrationId()).setGuestId(i.guestId()).setTargetAddress(i.targetAddress())
                .setState(MigrationState.valueOf("MIGRATION_STATE_" + i.state().name()))
                .setParameters(parameters(i.parameters())).setStats(stats(i.stats()))
                .setError(i.error() == null ? "" : i.error()).setStartUnixMs(i.startUnixMs());
        i.rounds().forEach(r -> b.addRounds(round(r)));
        for (MigrationControl.StateChange c : i.stateChanges()) {
            StateChange.Builder sc = StateChange.newBuilder().setToState(state(c.toState()))
                    .setAtMs(c.atMs()).setReason(c.reason() == null ? "" : c.reason());
            if (c.fromState() != null) {
                sc.setFromState(state(c.fromState()));
            }
            b.addStateChanges(sc);
        }
        return b.build();
    }

    private static MigrationState state(MigrationControl.MigrationState s) {
        return MigrationState.valueOf("MIGRATION_STATE_" + s.name());
    }

    static MigrationParameters parameters(MigrationControl.MigrationParameters p) {
        return MigrationParameters.newBuilder()
                .setMode(MigrationMode.valueOf("MIGRATION_MODE_" + p.mode().name()))
                .setDowntimeLimitMs(p.downtimeLimitMs()).setBandwidthLimitBytesPerS(p.bandwidthLimitBytesPerS())
                .setMaxRounds(p.maxRounds()).setPostcopyAfterRounds(p.postcopyAfterRounds())
                .setManualRounds(p.manualRounds()).setBatchPages(p.batchPages()).setVerifyPages(p.verifyPages())
                .build();
    }

    static RoundRecord round(MigrationControl.RoundRecord r) {
        return RoundRecord.newBuilder().setRound(r.round()).setStartMs(r.startMs()).setDurationMs(r.durationMs())
                .setScanNs(r.scanNs()).setDirtyPages(r.dirtyPages()).setSentPages(r.sentPages())
                .setZeroPages(r.zeroPages()).setBytesSent(r.bytesSent())
                .setBandwidthBytesPerS(r.bandwidthBytesPerS()).setDirtyRatePagesPerS(r.dirtyRatePagesPerS())
                .setRemainingDirtyPages(r.remainingDirtyPages()).setPredictedDowntimeMs(r.predictedDowntimeMs())
                .setDecision(RoundDecision.valueOf("ROUND_DECISION_" + r.decision().name()))
                .setReason(r.reason() == null ? "" : r.reason()).setThrottlePercent(r.throttlePercent())
                .setTrackerTruePositivePages(r.trackerTruePositivePages())
                .setTrackerFalsePositivePages(r.trackerFalsePositivePages())
                .setTrackerFalseNegativePages(r.trackerFalseNegativePages())
                .build();
    }

    static MigrationStats stats(MigrationControl.MigrationStats s) {
        MigrationControl.LatencySummary l = s.postcopyFaultLatency();
        return MigrationStats.newBuilder()
                .setMode(MigrationMode.valueOf("MIGRATION_MODE_" + s.mode().name()))
                .setTotalMs(s.totalMs()).setSetupMs(s.setupMs())
                .setDowntimeSourceMs(s.downtimeSourceMs()).setDowntimeTargetMs(s.downtimeTargetMs())
                .setDowntimeProbeMs(s.downtimeProbeMs()).setPredictedDowntimeMs(s.predictedDowntimeMs())
                .setRounds(s.rounds()).setTransferredPages(s.transferredPages())
                .setDuplicatedPages(s.duplicatedPages()).setZeroPages(s.zeroPages()).setBytesSent(s.bytesSent())
                .setGuestSizeBytes(s.guestSizeBytes()).setPostcopyFaults(s.postcopyFaults())
                .setPostcopyFaultLatency(LatencySummary.newBuilder().setCount(l.count()).setMeanUs(l.meanUs())
                        .setP50Us(l.p50Us()).setP99Us(l.p99Us()).setMaxUs(l.maxUs()))
                .setPostcopyTargetDirtiedPages(s.postcopyTargetDirtiedPages())
                .setTrackerTruePositivePages(s.trackerTruePositivePages())
                .setTrackerFalsePositivePages(s.trackerFalsePositivePages())
                .setTrackerFalseNegativePages(s.trackerFalseNegativePages())
                .setVerifiedPages(s.verifiedPages()).setVerifyMismatchPages(s.verifyMismatchPages())
                .build();
    }
}
