package dev.livemig.migctl.render;

import static dev.livemig.migctl.render.Units.f;

import dev.livemig.proto.v1.LatencySummary;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationStats;
import java.util.ArrayList;
import java.util.List;

/**
 * The end-of-migration summary: mode, total time, downtime measured vs predicted, pages
 * verified and tracker misses, plus what was sent and the post-copy faults.
 */
public final class Summary {
    private Summary() {
    }

    public static List<String> lines(MigrationInfo info) {
        MigrationStats s = info.getStats();
        List<String> out = new ArrayList<>();
        out.add(f("migration %s of guest %s to %s: %s", info.getMigrationId(), info.getGuestId(),
                info.getTargetAddress(), Units.enumName(info.getState(), "MIGRATION_STATE_")));
        out.add(f("  mode               %s", Units.enumName(s.getMode(), "MIGRATION_MODE_")));
        out.add(f("  total time         %d ms (setup %d ms), %d rounds", s.getTotalMs(), s.getSetupMs(), s.getRounds()));
        out.add(f("  downtime           measured %s (source %s, target %s%s), predicted %s, limit %d ms",
                Units.ms(Math.max(s.getDowntimeSourceMs(), s.getDowntimeTargetMs())), Units.ms(s.getDowntimeSourceMs()),
                Units.ms(s.getDowntimeTargetMs()),
                s.getDowntimeProbeMs() > 0 ? ", probe " + Units.ms(s.getDowntimeProbeMs()) : "",
                Units.ms(s.getPredictedDowntimeMs()), info.getParameters().getDowntimeLimitMs()));
        int n = info.getRoundsCount();
        if (n >= 2 && info.getRounds(n - 1).getSwitchoverCost().getTotalMs() > 0) {
            // the stop-and-copy round carries what the switchover cost, the round before it the estimate
            out.add("  switchover cost    predicted " + cost(info.getRounds(n - 2).getSwitchoverCost())
                    + "; measured " + cost(info.getRounds(n - 1).getSwitchoverCost()));
        }
        out.add(f("  sent               %d pages (%d duplicated, %d zero), %s of a %s guest", s.getTransferredPages(),
                s.getDuplicatedPages(), s.getZeroPages(), Units.bytes(s.getBytesSent()),
                Units.bytes(s.getGuestSizeBytes())));
        out.add(f("  pages verified     %d, mismatched %d", s.getVerifiedPages(), s.getVerifyMismatchPages()));
        out.add(f("  tracker misses     %d (over-reported %d)", s.getTrackerFalseNegativePages(),
                s.getTrackerFalsePositivePages()));
        LatencySummary l = s.getPostcopyFaultLatency();
        if (s.getPostcopyFaults() > 0 || l.getCount() > 0) {
            out.add(f("  post-copy faults   %d (p50 %.0f us, p99 %.0f us, max %.0f us), %d pages written on the target",
                    s.getPostcopyFaults(), l.getP50Us(), l.getP99Us(), l.getMaxUs(), s.getPostcopyTargetDirtiedPages()));
        }
        if (!info.getError().isEmpty()) {
            out.add("  error              " + info.getError());
        }
        return out;
    }

    private static String cost(dev.livemig.proto.v1.SwitchoverCost c) {
        return f("%s (pause %s, scan %s, round trip %s, target drain %s, target resume %s)", Units.ms(c.getTotalMs()),
                Units.ms(c.getPauseMs()), Units.ms(c.getFinalScanMs()), Units.ms(c.getControlRttMs()),
                Units.ms(c.getTargetDrainMs()), Units.ms(c.getTargetResumeMs()));
    }
}
