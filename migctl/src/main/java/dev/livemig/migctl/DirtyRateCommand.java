package dev.livemig.migctl;

import dev.livemig.migctl.Choices.Tracker;
import dev.livemig.migctl.render.Units;
import dev.livemig.proto.v1.DirtyRatePeriod;
import dev.livemig.proto.v1.DirtyRateResult;
import dev.livemig.proto.v1.MeasureDirtyRateRequest;
import dev.livemig.proto.v1.RegionDirtyRate;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code migctl dirty-rate}: QEMU's calc-dirty-rate against a guest, without migrating it. */
@Command(name = "dirty-rate", mixinStandardHelpOptions = true,
        description = "Measures a guest's dirty rate with a dirty tracker, without migrating it.")
final class DirtyRateCommand implements Runnable {
    @Spec
    CommandSpec spec;
    @Mixin
    NodeOptions node;
    @Option(names = "--guest", paramLabel = "ID", required = true, description = "Guest id.")
    String guestId;
    @Option(names = "--duration-ms", paramLabel = "MS", defaultValue = "1000", converter = Choices.Positive.class,
            description = "How long to measure (default: ${DEFAULT-VALUE}).")
    long durationMs;
    @Option(names = "--period-ms", paramLabel = "MS", converter = Choices.Positive.class,
            description = "Report each period of this length as well.")
    Long periodMs;
    @Option(names = "--tracker", defaultValue = "WP_ASYNC",
            description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    Tracker tracker;

    @Override
    public void run() {
        MeasureDirtyRateRequest.Builder req = MeasureDirtyRateRequest.newBuilder().setGuestId(guestId)
                .setDurationMs(durationMs).setTracker(tracker.proto());
        if (periodMs != null) {
            req.setPeriodMs(periodMs);
        }
        try (NodeClient source = node.source()) {
            DirtyRateResult r = source.call("MeasureDirtyRate", s -> s.measureDirtyRate(req.build()));
            PrintWriter out = spec.commandLine().getOut();
            out.println(Units.f("guest %s: %d pages dirtied in %d ms = %.0f pages/s (%s) with %s, scans took %.1f ms",
                    r.getGuestId(), r.getDirtyPages(), r.getDurationMs(), r.getDirtyRatePagesPerS(),
                    Units.rate(r.getDirtyRateBytesPerS()), Units.enumName(r.getTracker(), "DIRTY_TRACKER_KIND_"),
                    r.getScanNs() / 1e6));
            for (DirtyRatePeriod p : r.getPeriodsList()) {
                out.println(Units.f("  %6d ms +%5d ms  %8d pages  %10.0f pages/s", p.getStartMs(), p.getDurationMs(),
                        p.getDirtyPages(), p.getDirtyRatePagesPerS()));
            }
            for (RegionDirtyRate g : r.getRegionsList()) {
                out.println(Units.f("  region %-8s %8d pages  %10.0f pages/s", g.getRegionName(), g.getDirtyPages(),
                        g.getDirtyRatePagesPerS()));
            }
        }
    }
}
