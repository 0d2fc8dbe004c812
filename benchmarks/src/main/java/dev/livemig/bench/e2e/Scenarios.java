package dev.livemig.bench.e2e;

import static dev.livemig.bench.e2e.MigrationBench.GIB;
import static dev.livemig.bench.e2e.MigrationBench.MIB;
import static dev.livemig.bench.e2e.MigrationBench.PAGE;
import static dev.livemig.bench.e2e.MigrationBench.fmt;
import static dev.livemig.bench.e2e.MigrationBench.median;

import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.LatencySummary;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationStats;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.SwitchoverCost;
import dev.livemig.proto.v1.TransferProfile;
import dev.livemig.proto.v1.Workload;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The scenarios of {@link MigrationBench}; each prints its own Markdown section. */
final class Scenarios {
    private static final Pattern RESULT =
            Pattern.compile("RESULT \\S+ (\\S+) (\\S+) (\\S+) (\\S+) (\\d+) (\\d+) (\\d+) (\\d+) (\\d+) (\\d+)");
    private static final Pattern SENT = Pattern.compile("sent (\\d+) bytes in (\\d+) ns");
    /** 200 MB/s (decimal, as the issue states it) in 4 KiB pages. */
    private static final long RATE_200_MB_S = 200_000_000L / PAGE;

    private final MigrationBench b;

    Scenarios(MigrationBench b) {
        this.b = b;
    }

    private static GuestSpec.Builder guest(long bytes, Workload w, long ratePagesPerS, int vcpus) {
        return GuestSpec.newBuilder().setSizeBytes(bytes).setWorkload(w).setWriteRatePagesPerS(ratePagesPerS)
                .setVcpuCount(vcpus).setSeed(42);
    }

    // ---- (a) round 0 over gRPC vs raw TCP ------------------------------------------------

    void throughput() throws Exception {
        long size = b.sizeMib * MIB;
        System.out.printf("## Round 0 throughput: gRPC vs raw TCP, %d MiB idle guest, fully populated, no zero pages%n%n",
                b.sizeMib);
        System.out.println("| run | round-0 bytes | gRPC round 0 | raw TCP, same bytes | ratio | node CPU per GiB "
                + "| of it JIT | load |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        double[] grpc = new double[b.repeat];
        double[] raw = new double[b.repeat];
        for (int i = 0; i < b.repeat; i++) {
            RoundRecord r0;
            long[] cpu = new long[2];
            // the target keeps the first warm-up guest (the others are cancelled and freed), so the
            // measured one lands in fresh memory unless the target preallocated room for both
            long prealloc = b.targetPreallocMib >= 0 ? b.targetPreallocMib : b.sizeMib + b.warmupMib;
            try (Nodes n = b.nodes(prealloc)) {
                MigrationInfo info = MigrationBench.migrate(n, guest(size, Workload.WORKLOAD_IDLE, 0, 1).build(),
                        MigrationParameters.newBuilder().setMode(MigrationMode.MIGRATION_MODE_PRECOPY)
                                .setBatchPages(b.batchPages).setMultifdChannels(b.multifdChannels).build(), cpu);
                r0 = info.getRounds(0);
            }
            grpc[i] = r0.getBandwidthBytesPerS();
            String load = MigrationBench.loadAverage().split(" ")[0];
            raw[i] = rawTcpBytesPerS(r0.getBytesSent());
            // CPU of both nodes over the whole migration (round 0 is nearly all of it for an idle guest)
            double gib = r0.getBytesSent() / (double) GIB;
            System.out.println(fmt("| %d | %d | %.0f MB/s | %.0f MB/s | %.0f %% | %.2f s | %.2f s | %s |", i + 1,
                    r0.getBytesSent(), grpc[i] / 1e6, raw[i] / 1e6, 100 * grpc[i] / raw[i],
                    cpu[0] / 1e9 / gib, cpu[1] / 1e9 / gib, load));
        }
        double[] ratio = new double[b.repeat];
        for (int i = 0; i < b.repeat; i++) {
            ratio[i] = grpc[i] / raw[i];
        }
        System.out.println(fmt("| **median** | | **%.0f MB/s** | **%.0f MB/s** | **%.0f %%** (goal ≥ 80 %%) |%n",
                median(grpc) / 1e6, median(raw) / 1e6, 100 * median(ratio)));
    }

    /** Moves {@code bytes} from one fresh JVM to another over a loopback socket; bytes per second. */
    private double rawTcpBytesPerS(long bytes) throws IOException, InterruptedException {
        Files.createDirectories(b.logs);
        Path rlog = b.logs.resolve("raw-tcp-receiver.log");
        Path slog = b.logs.resolve("raw-tcp-sender.log");
        Process receiver = Nodes.launch("256m", List.of(), rlog, RawTcp.class.getName(), "receive");
        try {
            int port = Nodes.awaitPort(receiver, rlog);
            Process sender = Nodes.launch("256m", List.of(), slog, RawTcp.class.getName(), "send", Integer.toString(port),
                    Long.toString(bytes));
            if (!sender.waitFor(600, TimeUnit.SECONDS) || sender.exitValue() != 0) {
                sender.destroyForcibly();
                throw new IllegalStateException("raw TCP sender failed: " + Files.readString(slog));
            }
            Matcher m = SENT.matcher(Files.readString(slog));
            if (!m.find()) {
                throw new IllegalStateException("raw TCP sender said: " + Files.readString(slog));
            }
            return Long.parseLong(m.group(1)) * 1e9 / Long.parseLong(m.group(2));
        } finally {
            receiver.waitFor(10, TimeUnit.SECONDS);
            receiver.destroyForcibly();
        }
    }

    // ---- (b) downtime vs prediction --------------------------------------------------------

    void downtime() throws Exception {
        System.out.println("## Downtime vs prediction: 4 GiB guest, 1 GiB hot set written at 200 MB/s, limit 300 ms");
        System.out.println();
        GuestSpec spec = guest(4 * GIB, Workload.WORKLOAD_HOTSET, RATE_200_MB_S, 2).setHotSetFraction(0.25)
                .setHotSetWriteFraction(1.0).build();
        System.out.println("| run | rounds | max throttle | predicted | downtime source | target | probe | error (source vs predicted) "
                + "| bytes ÷ bandwidth + fixed (the form before the walk was modelled) | its error |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|");
        List<MigrationInfo> infos = new ArrayList<>();
        for (int i = 0; i < b.repeat; i++) {
            MigrationInfo info;
            try (Nodes n = b.nodes()) {
                info = MigrationBench.migrate(n, spec, MigrationParameters.newBuilder()
                        .setMode(MigrationMode.MIGRATION_MODE_PRECOPY).setDowntimeLimitMs(300).build());
            }
            infos.add(info);
            MigrationStats s = info.getStats();
            int throttle = info.getRoundsList().stream().mapToInt(RoundRecord::getThrottlePercent).max().orElse(0);
            double old = bytesOverBandwidthMs(info);
            System.out.println(fmt("| %d | %d | %d %% | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %+.0f %% | %.1f ms | %+.0f %% |",
                    i + 1, s.getRounds(), throttle, s.getPredictedDowntimeMs(), s.getDowntimeSourceMs(),
                    s.getDowntimeTargetMs(), s.getDowntimeProbeMs(),
                    100 * (s.getDowntimeSourceMs() - s.getPredictedDowntimeMs()) / s.getPredictedDowntimeMs(),
                    old, 100 * (s.getDowntimeSourceMs() - old) / old));
        }
        System.out.println();
        System.out.println("The prediction's parts (the round that decided SWITCHOVER) against the switchover's "
                + "(the stop-and-copy round), predicted → measured:");
        System.out.println();
        System.out.println("| run | transfer | of which walk | of which lookups | stream rate | pause | final scan | round trip "
                + "| target drain | target resume | fixed total | target clock offset | stop-and-copy began (UTC) |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (int i = 0; i < infos.size(); i++) {
            List<RoundRecord> rs = infos.get(i).getRoundsList();
            if (rs.size() < 2) {
                continue;
            }
            RoundRecord decided = rs.get(rs.size() - 2);
            RoundRecord last = rs.get(rs.size() - 1);
            SwitchoverCost p = decided.getSwitchoverCost();
            SwitchoverCost m = last.getSwitchoverCost();
            // the stop-and-copy's transfer: its whole pass minus its scan
            double sent = last.getDurationMs() - last.getScanNs() / 1e6;
            TransferProfile lt = last.getTransferProfile();
            // the final pass's stream: its bytes over its send beside finding the present pages
            double streamMs = lt.getSendMs() - lt.getPresentWalkMs() - lt.getPresentLookupMs();
            System.out.println(fmt("| %d | %.1f → %.1f ms | %.1f → %.1f ms (%d spans) | %.1f → %.1f ms (%d pages) "
                    + "| %.0f → %.0f MB/s | %.1f → %.1f ms | %.1f → %.1f ms | %.1f → %.1f ms "
                    + "| %.1f → %.1f ms | %.1f → %.1f ms | %.1f → %.1f ms | %.3f ms | %s |", i + 1,
                    decided.getPredictedTransferMs(), sent, decided.getPredictedWalkMs(),
                    lt.getPresentWalkMs(), lt.getWalkedSpans(), decided.getPredictedLookupMs(),
                    lt.getPresentLookupMs(), lt.getLookedUpPages(), decided.getPredictedStreamBytesPerS() / 1e6,
                    streamMs > 0 ? last.getBytesSent() / streamMs / 1e3 : 0,
                    p.getPauseMs(), m.getPauseMs(), p.getFinalScanMs(),
                    m.getFinalScanMs(), p.getControlRttMs(), m.getControlRttMs(), p.getTargetDrainMs(),
                    m.getTargetDrainMs(), p.getTargetResumeMs(), m.getTargetResumeMs(), p.getTotalMs(),
                    m.getTotalMs(), infos.get(i).getStats().getTargetClockOffsetMs(),
                    // to line the switchover up with the nodes' logs (a GC log with the time decorator)
                    java.time.Instant.ofEpochMilli(infos.get(i).getStartUnixMs() + last.getStartMs())));
        }
        System.out.println();
        for (int i = 0; i < infos.size(); i++) {
            System.out.println("Rounds of run " + (i + 1) + ":");
            System.out.println();
            printRounds(infos.get(i));
        }
    }

    /**
     * The prediction of the round that decided SWITCHOVER in the form it had before the
     * present walk was modelled: its remaining dirty bytes (4 KiB pages here) at its whole
     * send's bandwidth, plus the same fixed part.
     */
    private static double bytesOverBandwidthMs(MigrationInfo info) {
        List<RoundRecord> rs = info.getRoundsList();
        if (rs.size() < 2) {
            return Double.NaN;
        }
        RoundRecord decided = rs.get(rs.size() - 2);
        return decided.getRemainingDirtyPages() * PAGE * 1000.0 / decided.getBandwidthBytesPerS()
                + decided.getSwitchoverCost().getTotalMs();
    }

    /** A round's stream rate: its bytes over its send beside finding the present pages (what the estimate pools). */
    private static double streamMbPerS(RoundRecord r) {
        TransferProfile t = r.getTransferProfile();
        double ms = t.getSendMs() - t.getPresentWalkMs() - t.getPresentLookupMs();
        return ms > 0 ? r.getBytesSent() / ms / 1e3 : 0;
    }

    static void printRounds(MigrationInfo info) {
        System.out.println("| round | duration | scan | dirty pages | sent pages | bandwidth | dirty rate | remaining | predicted | of which fixed | throttle | decision "
                + "| send | present walk (spans) | lookups (pages) | stream | stream wait | batches |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (RoundRecord r : info.getRoundsList()) {
            TransferProfile t = r.getTransferProfile();
            System.out.println(fmt("| %d | %d ms | %.2f ms | %d | %d | %.0f MB/s | %.0f pages/s | %d | %.1f ms | %.1f ms | %d %% | %s "
                    + "| %.1f ms | %.1f ms (%d) | %.1f ms (%d) | %.0f MB/s over %.1f ms | %.1f ms | %d |",
                    r.getRound(), r.getDurationMs(), r.getScanNs() / 1e6, r.getDirtyPages(), r.getSentPages(),
                    r.getBandwidthBytesPerS() / 1e6, r.getDirtyRatePagesPerS(), r.getRemainingDirtyPages(),
                    r.getPredictedDowntimeMs(), r.getSwitchoverCost().getTotalMs(), r.getThrottlePercent(),
                    r.getDecision().name().replace("ROUND_DECISION_", ""), t.getSendMs(), t.getPresentWalkMs(),
                    t.getWalkedSpans(), t.getPresentLookupMs(), t.getLookedUpPages(), streamMbPerS(r),
                    t.getSendMs() - t.getPresentWalkMs() - t.getPresentLookupMs(), t.getStreamWaitMs(), t.getBatches()));
        }
        System.out.println();
    }

    // ---- (c) post-copy demand faults -------------------------------------------------------

    void postcopy() throws Exception {
        long size = b.sizeMib * MIB;
        System.out.printf("## Post-copy demand faults: %d MiB guest, uniform writes at 20 000 pages/s on 2 vCPUs, "
                + "background push unlimited%n%n", b.sizeMib);
        System.out.println("| run | faults | p50 | p99 | max | mean | push + faults total |");
        System.out.println("|---|---|---|---|---|---|---|");
        double[] p50 = new double[b.repeat];
        double[] p99 = new double[b.repeat];
        List<MigrationStats> runs = new ArrayList<>();
        for (int i = 0; i < b.repeat; i++) {
            MigrationInfo info;
            try (Nodes n = b.nodes()) {
                info = MigrationBench.migrate(n, guest(size, Workload.WORKLOAD_UNIFORM, 20_000, 2).build(),
                        MigrationParameters.newBuilder().setMode(MigrationMode.MIGRATION_MODE_POSTCOPY)
                                .setMultifdChannels(b.multifdChannels).build());
            }
            MigrationStats s = info.getStats();
            runs.add(s);
            LatencySummary l = s.getPostcopyFaultLatency();
            p50[i] = l.getP50Us();
            p99[i] = l.getP99Us();
            System.out.println(fmt("| %d | %d | %.0f µs | %.0f µs | %.0f µs | %.0f µs | %d ms |", i + 1,
                    s.getPostcopyFaults(), l.getP50Us(), l.getP99Us(), l.getMaxUs(), l.getMeanUs(), s.getTotalMs()));
        }
        System.out.println(fmt("| **median** | | **%.0f µs** (goal ≤ 100) | **%.0f µs** (goal ≤ 500) | | | |%n",
                median(p50), median(p99)));
        System.out.println("The round trips answered on the priority stream, split by the target, each part on one "
                + "node's clock (p50 / p99, µs):");
        System.out.println();
        System.out.println("| run | answered | network, both legs (round trip less the source's hold) "
                + "| source's hold (request taken to answer queued) | install (answer read to installed) |");
        System.out.println("|---|---|---|---|---|");
        for (int i = 0; i < runs.size(); i++) {
            MigrationStats s = runs.get(i);
            LatencySummary q = s.getPostcopyNetworkLatency();
            LatencySummary a = s.getPostcopySourceHoldLatency();
            LatencySummary in = s.getPostcopyInstallLatency();
            System.out.println(fmt("| %d | %d | %.0f / %.0f | %.0f / %.0f | %.0f / %.0f |", i + 1, q.getCount(),
                    q.getP50Us(), q.getP99Us(), a.getP50Us(), a.getP99Us(), in.getP50Us(), in.getP99Us()));
        }
        System.out.println();
    }

    // ---- (d) trackers ------------------------------------------------------------------------

    void trackers() throws Exception {
        int rounds = 40;
        long intervalMs = 150;
        System.out.println("## Trackers on one workload trace: 512 MiB guest, hot set 10 % taking 90 % of the "
                + "writes, 1 vCPU unpaced, seed 42");
        System.out.println();
        System.out.println("Each tracker in a fresh JVM (TrackerProbe): stores per second untracked for 2 s, then "
                + rounds + " collects " + intervalMs + " ms apart under the tracker, each scored against the "
                + "guest's write log, then untracked again for 2 s (the untracked figure is the mean of both). "
                + "Scan: median and maximum over the second half of the rounds (the first run interpreted code).");
        System.out.println();
        System.out.println("| tracker | stores/s untracked | stores/s tracked | slowdown (wall) | vCPU CPU per store "
                + "untracked → tracked | scan per round (median) | scan (max) | pages reported per round | "
                + "true pos. | false pos. | false neg. |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|");
        for (String kind : new String[] {"WP_ASYNC", "UFFD_WP_SYNC", "SOFT_DIRTY"}) {
            Files.createDirectories(b.logs);
            Path log = b.logs.resolve("tracker-" + kind + ".log");
            Process p = Nodes.launch(b.nodeHeap, b.nodeJvmArgs, log, TrackerProbe.class.getName(), kind, "512",
                    Integer.toString(rounds), Long.toString(intervalMs));
            if (!p.waitFor(600, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IllegalStateException("tracker probe failed: " + Files.readString(log));
            }
            Matcher m = RESULT.matcher(Files.readString(log));
            if (!m.find()) {
                throw new IllegalStateException("tracker probe said: " + Files.readString(log));
            }
            double untracked = Double.parseDouble(m.group(1));
            double tracked = Double.parseDouble(m.group(2));
            System.out.println(fmt("| %s | %.0f | %.0f | %.1f %% | %s → %s ns | %.3f ms | %.3f ms | %s | %s | %s | %s |",
                    kind, untracked, tracked, 100 * (untracked - tracked) / untracked, m.group(3), m.group(4),
                    Long.parseLong(m.group(5)) / 1e6, Long.parseLong(m.group(6)) / 1e6, m.group(7), m.group(8),
                    m.group(9), m.group(10)));
        }
        System.out.println();
    }

    // ---- (e) scaling -------------------------------------------------------------------------

    void scaling() throws Exception {
        new Scaling(b).run();
    }
}
