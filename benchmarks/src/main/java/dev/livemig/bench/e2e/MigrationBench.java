package dev.livemig.bench.e2e;

import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.WatchRequest;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The end-to-end migration benchmark: every scenario starts real node processes on
 * loopback (a target node and a source node per measurement) and drives them through
 * MigrationControl, as migctl does. Results go to standard output as Markdown tables, the
 * form docs/benchmarks.md quotes them in.
 *
 * <pre>
 *   java -cp benchmarks/target/benchmarks.jar dev.livemig.bench.e2e.MigrationBench --scenario throughput
 * </pre>
 */
@Command(name = "migration-bench", mixinStandardHelpOptions = true,
        description = "End-to-end live-migration benchmarks between real node processes on loopback.")
public final class MigrationBench implements Callable<Integer> {
    static final long MIB = 1L << 20;
    static final long GIB = 1L << 30;
    static final long PAGE = 4096;

    /** What each scenario measures (issue 6). */
    enum Scenario {
        /** Round 0 over gRPC vs raw TCP moving the same bytes. */
        THROUGHPUT,
        /** 4 GiB guest, 1 GiB hot set at 200 MB/s, 300 ms limit: downtime vs prediction. */
        DOWNTIME,
        /** Post-copy demand-fault latency under the background push. */
        POSTCOPY,
        /** WP_ASYNC vs sync uffd-wp vs soft-dirty on one workload. */
        TRACKERS,
        /** Round time and memory vs guest size and vs dirty rate, with a chart. */
        SCALING,
        ALL
    }

    @Option(names = "--scenario", required = true, description = "One of: ${COMPLETION-CANDIDATES}.",
            converter = ScenarioConverter.class)
    Scenario scenario;

    @Option(names = "--repeat", defaultValue = "3", description = "Repetitions where a scenario takes a median (default: ${DEFAULT-VALUE}).")
    int repeat;

    @Option(names = "--size-mib", defaultValue = "1024",
            description = "Guest size of the throughput and post-copy scenarios (default: ${DEFAULT-VALUE}).")
    long sizeMib;

    @Option(names = "--max-size-mib", defaultValue = "4096",
            description = "Largest guest of the scaling scenario; 8192 runs only if free memory allows (default: ${DEFAULT-VALUE}).")
    long maxSizeMib;

    @Option(names = "--batch-pages", defaultValue = "0",
            description = "Pages per PageBatch in the throughput scenario; 0: the engine default (default: ${DEFAULT-VALUE}).")
    int batchPages;

    @Option(names = "--multifd-channels", defaultValue = "0",
            description = "Parallel page streams of the throughput and post-copy scenarios; 0: the source node's default (default: ${DEFAULT-VALUE}).")
    int multifdChannels;

    @Option(names = "--thread-cpu", description = "Print the nodes' CPU time per thread group of each measured throughput migration.")
    void threadCpu(boolean on) {
        threadCpu = on;
    }

    @Option(names = "--warmup-mib", defaultValue = "256",
            description = "Each fresh node pair first migrates an idle guest of this size, so that the measured "
                    + "migration runs JIT-compiled code; 0: none (default: ${DEFAULT-VALUE}).")
    long warmupMib;

    @Option(names = "--target-prealloc-mib", defaultValue = "-1",
            description = "The target node's --mem-prealloc-mib: guest memory it touches at start, as QEMU's "
                    + "-mem-prealloc, instead of during round 0; -1: for the throughput scenario enough for the "
                    + "first warm-up guest (the target keeps it) and the measured one, 0 elsewhere (default: ${DEFAULT-VALUE}).")
    long targetPreallocMib;

    @Option(names = "--max-warmups", defaultValue = "30",
            description = "Repeat the warm-up migration, up to this many times, until the nodes' JIT compiler "
                    + "threads used less than 5 %% of a warm-up's wall time: a long-running node's steady state "
                    + "rather than a fresh JVM's compile backlog (default: ${DEFAULT-VALUE}).")
    int maxWarmups;

    @Option(names = "--sizes-mib", split = ",", defaultValue = "256,512,1024,2048,4096,8192",
            description = "Guest sizes of the scaling scenario; sizes over --max-size-mib are left out (default: ${DEFAULT-VALUE}).")
    List<Long> sizesMib;

    @Option(names = "--rate-sweep", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Run the scaling scenario's dirty-rate sweep (default: ${DEFAULT-VALUE}).")
    boolean rateSweep;

    @Option(names = "--node-heap", defaultValue = "1g", description = "-Xmx of each node (default: ${DEFAULT-VALUE}).")
    String nodeHeap;

    @Option(names = "--node-thread-priorities", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Run the nodes with -XX:ThreadPriorityPolicy=1, so that the post-copy fault path's"
                    + " threads (priority 10) run at nice -5 (needs root or CAP_SYS_NICE; default: ${DEFAULT-VALUE}).")
    boolean nodeThreadPriorities;

    @Option(names = "--node-jvm-arg", description = "Extra JVM option of each node, e.g. a JFR recording (repeatable).")
    List<String> nodeJvmArgs = new ArrayList<>();

    @Option(names = "--logs", defaultValue = "target/e2e-logs", description = "Node logs (default: ${DEFAULT-VALUE}).")
    Path logs;

    @Option(names = "--chart", defaultValue = "docs/benchmarks-scaling.svg",
            description = "Where the scaling scenario writes its chart (default: ${DEFAULT-VALUE}).")
    Path chart;

    @Override
    public Integer call() throws Exception {
        System.out.printf(Locale.ROOT, "# MigrationBench %s, %s, JDK %s, %d cores, load average %s%n%n",
                scenario.name().toLowerCase(Locale.ROOT), Instant.now(), System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors(), loadAverage());
        Scenarios s = new Scenarios(this);
        switch (scenario) {
            case THROUGHPUT -> s.throughput();
            case DOWNTIME -> s.downtime();
            case POSTCOPY -> s.postcopy();
            case TRACKERS -> s.trackers();
            case SCALING -> s.scaling();
            case ALL -> {
                s.throughput();
                s.downtime();
                s.postcopy();
                s.trackers();
                s.scaling();
            }
            default -> throw new IllegalStateException(scenario.name());
        }
        System.out.printf(Locale.ROOT, "%nload average at the end: %s%n", loadAverage());
        return 0;
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return String.format(Locale.ROOT, "%.2f", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        }
    }

    /** MemAvailable of the machine, bytes. */
    static long memAvailableBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    return Long.parseLong(line.replaceAll("\\D+", "")) * 1024;
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return 0;
    }

    /**
     * A fresh target and source node, warmed up: one whole migration of an idle guest, then
     * round 0 of more such migrations, each cancelled once its round is in (the target
     * frees a cancelled guest, so the warm-ups do not pile up in its memory), until the JIT
     * compiler threads go quiet or {@code --max-warmups} is reached.
     */
    Nodes nodes() throws IOException, InterruptedException {
        return nodes(targetPreallocMib < 0 ? 0 : targetPreallocMib);
    }

    /** As {@link #nodes()}, with the target touching {@code preallocMib} of guest memory at start. */
    Nodes nodes(long preallocMib) throws IOException, InterruptedException {
        List<String> jvmArgs = new ArrayList<>();
        if (nodeThreadPriorities) {
            jvmArgs.add("-XX:ThreadPriorityPolicy=1");
        }
        jvmArgs.addAll(nodeJvmArgs);
        Nodes n = Nodes.start(logs, nodeHeap, jvmArgs, preallocMib);
        try {
            for (int i = 1; warmupMib > 0 && i <= Math.max(1, maxWarmups); i++) {
                long jit0 = compilerNanos(Nodes.cpuNanosByThread(n.source)) + compilerNanos(Nodes.cpuNanosByThread(n.target));
                long t0 = System.nanoTime();
                GuestSpec spec = GuestSpec.newBuilder().setSizeBytes(warmupMib * MIB)
                        .setWorkload(dev.livemig.proto.v1.Workload.WORKLOAD_IDLE).setSeed(7).build();
                MigrationParameters.Builder params = MigrationParameters.newBuilder()
                        .setMode(dev.livemig.proto.v1.MigrationMode.MIGRATION_MODE_PRECOPY);
                if (i == 1) {
                    migrate(n, spec, params.build());
                } else {
                    // WAIT with a 1 ms limit: an idle guest would otherwise switch over after its
                    // round 0, and the target keeps a guest that arrived
                    roundZeroThenCancel(n, spec, params.setManualRounds(true).setDowntimeLimitMs(1)
                            .setSwitchoverPolicy(dev.livemig.proto.v1.SwitchoverPolicy.SWITCHOVER_POLICY_WAIT).build());
                }
                long wall = System.nanoTime() - t0;
                long jit = compilerNanos(Nodes.cpuNanosByThread(n.source))
                        + compilerNanos(Nodes.cpuNanosByThread(n.target)) - jit0;
                if (maxWarmups > 1 && (i == 1 || jit < wall / 20 || i == maxWarmups)) {
                    System.out.println(fmt("  warm-up %d: %.0f ms, JIT compiler %.0f ms (%.0f %% of it)", i, wall / 1e6,
                            jit / 1e6, 100.0 * jit / wall));
                }
                if (i > 1 && jit < wall / 20) {
                    break; // the compile queue has drained: what runs hot now is compiled
                }
            }
        } catch (RuntimeException e) {
            n.close();
            throw e;
        }
        return n;
    }

    /** Creates a guest on the pair's source; returns its id. */
    private static String createGuest(Nodes n, GuestSpec spec) {
        return n.control(600).createGuest(CreateGuestRequest.newBuilder().setSpec(spec).build()).getGuestId();
    }

    /** Starts a migration of {@code guest} to the pair's target; returns its id. */
    private static String startMigration(Nodes n, String guest, MigrationParameters params) {
        return n.control(60).startMigration(StartMigrationRequest.newBuilder().setGuestId(guest)
                .setTargetAddress(n.targetAddress()).setParameters(params).build()).getMigrationId();
    }

    /** Round 0 of a manual-rounds migration of a new guest, then a cancel, and the guest stopped on the source. */
    private static void roundZeroThenCancel(Nodes n, GuestSpec spec, MigrationParameters params) {
        String guest = createGuest(n, spec);
        String id = startMigration(n, guest, params);
        n.control(600).runRound(dev.livemig.proto.v1.RunRoundRequest.newBuilder().setMigrationId(id).build());
        n.control(60).cancel(dev.livemig.proto.v1.CancelRequest.newBuilder().setMigrationId(id)
                .setReason("warm-up done").build());
        if (awaitEnd(n, id).getState() == MigrationState.MIGRATION_STATE_CANCELLED) {
            n.control(60).stopGuest(dev.livemig.proto.v1.StopGuestRequest.newBuilder().setGuestId(guest).build());
        }
    }

    /** Creates the guest, migrates it and returns the final info (throws if the migration failed). */
    static MigrationInfo migrate(Nodes n, GuestSpec spec, MigrationParameters params) {
        return migrate(n, spec, params, null);
    }

    /**
     * As above; {@code cpuNanos}, if given, receives the CPU time both node processes spent
     * from the start of the migration to its end (the guest's creation not included).
     */
    static MigrationInfo migrate(Nodes n, GuestSpec spec, MigrationParameters params, long[] cpuNanos) {
        String guest = createGuest(n, spec);
        long cpu0 = cpuNanos == null ? 0 : Nodes.cpuNanos(n.source) + Nodes.cpuNanos(n.target);
        java.util.Map<String, Long> src0 = Nodes.cpuNanosByThread(n.source);
        java.util.Map<String, Long> tgt0 = Nodes.cpuNanosByThread(n.target);
        String id = startMigration(n, guest, params);
        MigrationInfo info = awaitEnd(n, id);
        if (cpuNanos != null) {
            cpuNanos[0] = Nodes.cpuNanos(n.source) + Nodes.cpuNanos(n.target) - cpu0;
            java.util.Map<String, Long> src1 = Nodes.cpuNanosByThread(n.source);
            java.util.Map<String, Long> tgt1 = Nodes.cpuNanosByThread(n.target);
            if (cpuNanos.length > 1) {
                // the JIT compiler's share: code still being compiled after the warm-up, not per-byte work
                cpuNanos[1] = compilerNanos(src1) - compilerNanos(src0) + compilerNanos(tgt1) - compilerNanos(tgt0);
            }
            if (threadCpu) {
                printThreadCpu("source", src0, src1);
                printThreadCpu("target", tgt0, tgt1);
            }
        }
        return info;
    }

    /** Follows a migration with Watch until its final state, then reads its info. */
    static MigrationInfo awaitEnd(Nodes n, String id) {
        n.control(1800).watch(WatchRequest.newBuilder().setMigrationId(id).build()).forEachRemaining(e -> { });
        MigrationInfo info = n.control(60).getInfo(GetInfoRequest.newBuilder().setMigrationId(id).build());
        if (info.getState() != MigrationState.MIGRATION_STATE_COMPLETED
                && info.getState() != MigrationState.MIGRATION_STATE_CANCELLED) {
            throw new IllegalStateException("migration " + id + " ended " + info.getState() + ": " + info.getError());
        }
        return info;
    }

    private static long compilerNanos(java.util.Map<String, Long> byThread) {
        return byThread.entrySet().stream().filter(e -> e.getKey().contains("CompilerThre"))
                .mapToLong(java.util.Map.Entry::getValue).sum();
    }

    /** --thread-cpu: where the nodes' CPU time of a measured migration went, thread group by thread group. */
    static volatile boolean threadCpu;

    private static void printThreadCpu(String node, java.util.Map<String, Long> before, java.util.Map<String, Long> after) {
        StringBuilder sb = new StringBuilder("  " + node + " CPU by thread:");
        after.entrySet().stream()
                .map(e -> java.util.Map.entry(e.getKey(), e.getValue() - before.getOrDefault(e.getKey(), 0L)))
                .filter(e -> e.getValue() >= 50_000_000L)
                .sorted((a, b) -> Long.compare(b.getValue(), a.getValue()))
                .forEach(e -> sb.append(fmt(" %s %.2f s;", e.getKey(), e.getValue() / 1e9)));
        System.out.println(sb);
    }

    static String fmt(String pattern, Object... args) {
        return String.format(Locale.ROOT, pattern, args);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static final class ScenarioConverter implements CommandLine.ITypeConverter<Scenario> {
        @Override
        public Scenario convert(String value) {
            return Scenario.valueOf(value.toUpperCase(Locale.ROOT));
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new MigrationBench()).execute(args));
    }
}
