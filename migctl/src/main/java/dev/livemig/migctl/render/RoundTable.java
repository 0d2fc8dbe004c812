package dev.livemig.migctl.render;

import static dev.livemig.migctl.render.Units.f;

import dev.livemig.proto.v1.RoundRecord;

/**
 * The per-round table of `migctl watch` and `migctl info`: round, dirty pages, pages sent,
 * bandwidth, dirty rate, predicted downtime, the switchover's fixed cost within it (in the
 * stop-and-copy row: what the switchover really cost beyond sending) and the decision taken
 * at the end of the round (with its reason).
 */
public final class RoundTable {
    private static final String FORMAT = "%5s  %11s  %11s  %12s  %13s  %11s  %10s  %-10s  %s";

    private RoundTable() {
    }

    public static String header() {
        return f(FORMAT, "round", "dirty pages", "sent pages", "bandwidth", "dirty rate", "predicted", "fixed cost",
                "decision", "reason");
    }

    public static String row(RoundRecord r) {
        return f(FORMAT, r.getRound(), r.getDirtyPages(), r.getSentPages(), Units.rate(r.getBandwidthBytesPerS()),
                f("%.0f pages/s", r.getDirtyRatePagesPerS()), Units.ms(r.getPredictedDowntimeMs()),
                Units.ms(r.getSwitchoverCost().getTotalMs()), Units.enumName(r.getDecision(), "ROUND_DECISION_"),
                r.getReason());
    }
}
