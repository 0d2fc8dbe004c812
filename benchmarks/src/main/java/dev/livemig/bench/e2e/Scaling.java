package dev.livemig.bench.e2e;

import static dev.livemig.bench.e2e.MigrationBench.GIB;
import static dev.livemig.bench.e2e.MigrationBench.MIB;
import static dev.livemig.bench.e2e.MigrationBench.fmt;

import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationStats;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.Workload;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/**
 * How cost grows: one pre-copy migration per guest size at a fixed dirty rate, then one
 * per dirty rate at a fixed size, each between fresh node processes so that the peak
 * resident set (VmHWM) of each node belongs to that migration alone.
 */
final class Scaling {
    /** 50 MB/s of page writes: enough for several rounds, well under the link. */
    private static final long SIZE_SWEEP_RATE = 12_800;
    private static final long[] RATES = {0, 6_400, 12_800, 25_600, 51_200, 102_400};

    private final MigrationBench b;

    Scaling(MigrationBench b) {
        this.b = b;
    }

    private record Row(long x, MigrationInfo info, long sourceRss, long targetRss) {
        double round0Ms() {
            return info.getRounds(0).getDurationMs();
        }

        /** Mean duration of the rounds after round 0 and before the stop-and-copy pass. */
        double laterRoundMs() {
            List<RoundRecord> r = info.getRoundsList();
            return r.size() <= 2 ? 0 : r.subList(1, r.size() - 1).stream().mapToLong(RoundRecord::getDurationMs)
                    .average().orElse(0);
        }

        double laterScanMs() {
            List<RoundRecord> r = info.getRoundsList();
            return r.size() <= 1 ? 0 : r.subList(1, r.size()).stream().mapToLong(RoundRecord::getScanNs)
                    .average().orElse(0) / 1e6;
        }
    }

    void run() throws Exception {
        long avail = MigrationBench.memAvailableBytes();
        List<Long> sizes = new ArrayList<>();
        List<Long> skipped = new ArrayList<>();
        for (long mib : b.sizesMib) {
            // two copies of the guest (source and target), the nodes' overhead, and room for the others
            boolean fits = mib <= b.maxSizeMib && (mib < 8192 || avail >= 2 * mib * MIB + 4 * GIB);
            (fits ? sizes : skipped).add(mib * MIB);
        }
        System.out.printf("## Scaling with guest size: hot set 10 %% taking 90 %% of the writes at %d pages/s "
                + "(50 MB/s), 2 vCPUs, pre-copy, limit 300 ms%n%n", SIZE_SWEEP_RATE);
        System.out.println(fmt("MemAvailable at the start: %.1f GiB; left out: %s (over --max-size-mib %d, or 8 GiB "
                + "and more without twice the guest plus 4 GiB available).%n", avail / (double) GIB,
                skipped.isEmpty() ? "none" : skipped.stream().map(x -> x / MIB + " MiB").toList(), b.maxSizeMib));
        System.out.println("| guest | rounds | round 0 | round 0 scan | later rounds (mean) | scan per later round | total | downtime | source peak RSS | target peak RSS | RSS − guest (source) |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|");
        List<Row> bySize = new ArrayList<>();
        for (long size : sizes) {
            Row row = migrate(size, GuestSpec.newBuilder().setSizeBytes(size).setWorkload(Workload.WORKLOAD_HOTSET)
                    .setWriteRatePagesPerS(SIZE_SWEEP_RATE).setVcpuCount(2).setSeed(42).setHotSetFraction(0.1)
                    .setHotSetWriteFraction(0.9).build());
            bySize.add(row);
            MigrationStats s = row.info.getStats();
            System.out.println(fmt("| %d MiB | %d | %.0f ms | %.2f ms | %.0f ms | %.3f ms | %d ms | %.1f ms | %d MiB | %d MiB | %d MiB |",
                    size / MIB, s.getRounds(), row.round0Ms(), row.info.getRounds(0).getScanNs() / 1e6,
                    row.laterRoundMs(), row.laterScanMs(), s.getTotalMs(), s.getDowntimeSourceMs(),
                    row.sourceRss / MIB, row.targetRss / MIB, (row.sourceRss - size) / MIB));
        }
        System.out.println();
        if (!b.rateSweep) {
            return;
        }
        long size = GIB;
        System.out.println("## Scaling with dirty rate: 1 GiB guest, hot set 25 % taking every write, 2 vCPUs, "
                + "pre-copy, limit 300 ms");
        System.out.println();
        System.out.println("| dirty rate | rounds | max throttle | round 0 | later rounds (mean) | scan per later round | last round's dirty pages | total | predicted | downtime |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|");
        List<Row> byRate = new ArrayList<>();
        for (long rate : RATES) {
            Row row = migrate(rate, GuestSpec.newBuilder().setSizeBytes(size).setWorkload(rate == 0
                    ? Workload.WORKLOAD_IDLE : Workload.WORKLOAD_HOTSET).setWriteRatePagesPerS(rate).setVcpuCount(2)
                    .setSeed(42).setHotSetFraction(0.25).setHotSetWriteFraction(1.0).build());
            byRate.add(row);
            MigrationStats s = row.info.getStats();
            List<RoundRecord> r = row.info.getRoundsList();
            System.out.println(fmt("| %d pages/s (%.0f MB/s) | %d | %d %% | %.0f ms | %.0f ms | %.3f ms | %d | %d ms | %.1f ms | %.1f ms |",
                    rate, rate * 4096 / 1e6, s.getRounds(),
                    r.stream().mapToInt(RoundRecord::getThrottlePercent).max().orElse(0), row.round0Ms(),
                    row.laterRoundMs(), row.laterScanMs(), r.get(r.size() - 1).getDirtyPages(), s.getTotalMs(),
                    s.getPredictedDowntimeMs(), s.getDowntimeSourceMs()));
        }
        System.out.println();
        writeChart(bySize, byRate);
    }

    private Row migrate(long x, GuestSpec spec) throws Exception {
        try (Nodes n = b.nodes()) {
            MigrationInfo info = MigrationBench.migrate(n, spec, MigrationParameters.newBuilder()
                    .setMode(MigrationMode.MIGRATION_MODE_PRECOPY).setDowntimeLimitMs(300).build());
            return new Row(x, info, Nodes.peakRssBytes(n.source), Nodes.peakRssBytes(n.target));
        }
    }

    private void writeChart(List<Row> bySize, List<Row> byRate) throws Exception {
        SvgChart c = new SvgChart("livemig pre-copy cost, " + java.time.LocalDate.now() + " (preliminary, 2 shared cores)");
        String[] sizeLabels = bySize.stream().map(r -> r.x >= GIB ? r.x / GIB + " GiB" : r.x / MIB + " MiB")
                .toArray(String[]::new);
        c.panel("round 0 time vs guest size", "guest size", "seconds", sizeLabels,
                new SvgChart.Series("round 0", bySize.stream().mapToDouble(r -> r.round0Ms() / 1000).toArray()),
                new SvgChart.Series("whole migration", bySize.stream()
                        .mapToDouble(r -> r.info.getStats().getTotalMs() / 1000.0).toArray()));
        c.panel("peak RSS vs guest size", "guest size", "GiB", sizeLabels,
                new SvgChart.Series("source node", bySize.stream().mapToDouble(r -> r.sourceRss / (double) GIB).toArray()),
                new SvgChart.Series("target node", bySize.stream().mapToDouble(r -> r.targetRss / (double) GIB).toArray()),
                new SvgChart.Series("guest", bySize.stream().mapToDouble(r -> r.x / (double) GIB).toArray()));
        String[] rateLabels = byRate.stream().map(r -> fmt("%.0f", r.x * 4096 / 1e6)).toArray(String[]::new);
        c.panel("later round time vs dirty rate (1 GiB guest)", "dirty rate, MB/s", "ms", rateLabels,
                new SvgChart.Series("mean later round", byRate.stream().mapToDouble(Row::laterRoundMs).toArray()),
                new SvgChart.Series("downtime", byRate.stream()
                        .mapToDouble(r -> r.info.getStats().getDowntimeSourceMs()).toArray()));
        c.panel("rounds vs dirty rate (1 GiB guest)", "dirty rate, MB/s", "rounds", rateLabels,
                new SvgChart.Series("rounds", byRate.stream().mapToDouble(r -> r.info.getStats().getRounds()).toArray()));
        if (b.chart.getParent() != null) {
            Files.createDirectories(b.chart.getParent());
        }
        Files.writeString(b.chart, c.render());
        System.out.println("chart: " + b.chart);
    }
}
