package dev.livemig.bench.e2e;

import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.source.SourceNodeMain;
import dev.livemig.target.TargetNodeMain;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A target node and a source node as two fresh JVM processes on loopback, started from this
 * JVM's own class path (the shaded benchmarks jar holds both mains). A target node keeps
 * every guest it received running, so each measurement gets a fresh pair: no guest of an
 * earlier measurement competes for the two cores.
 */
final class Nodes implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening on .*:(\\d+)");

    final Process target;
    final Process source;
    final int targetPort;
    final ManagedChannel client;
    final MigrationControlGrpc.MigrationControlBlockingStub control;

    private Nodes(Process target, int targetPort, Process source, int sourcePort) {
        this.target = target;
        this.source = source;
        this.targetPort = targetPort;
        this.client = Grpc.newChannelBuilder("127.0.0.1:" + sourcePort, InsecureChannelCredentials.create())
                .maxInboundMessageSize(64 << 20).build();
        this.control = MigrationControlGrpc.newBlockingStub(client);
    }

    /**
     * Starts both nodes, each with {@code heap} as -Xmx (guest memory is off-heap); the target
     * touches {@code preallocMib} of guest memory at start (--mem-prealloc-mib).
     */
    static Nodes start(Path logs, String heap, List<String> jvmArgs, long preallocMib)
            throws IOException, InterruptedException {
        Files.createDirectories(logs);
        Path tlog = logs.resolve("target-node.log");
        Path slog = logs.resolve("source-node.log");
        Process t = launch(heap, jvmArgs, tlog, TargetNodeMain.class.getName(), "--host", "127.0.0.1", "--port", "0",
                "--mem-prealloc-mib", Long.toString(preallocMib));
        Process s = null;
        try {
            int tp = awaitPort(t, tlog);
            s = launch(heap, jvmArgs, slog, SourceNodeMain.class.getName(), "--host", "127.0.0.1", "--port", "0");
            return new Nodes(t, tp, s, awaitPort(s, slog));
        } catch (IOException | InterruptedException | RuntimeException e) {
            t.destroyForcibly();
            if (s != null) {
                s.destroyForcibly();
            }
            throw e;
        }
    }

    /** {@code java -Xmx<heap> jvmArgs... -cp <this class path> main args...}, output to {@code log}. */
    static Process launch(String heap, List<String> jvmArgs, Path log, String main, String... args)
            throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // what the node jars' Add-Opens manifest entries grant: Netty's non-zeroing direct buffers
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx" + heap, "--add-opens=java.base/java.nio=ALL-UNNAMED",
                "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED"));
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** The port from the process's "listening on" line; fails if it dies or says nothing for 60 s. */
    static int awaitPort(Process p, Path log) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (Files.exists(log)) {
                Matcher m = LISTENING.matcher(Files.readString(log));
                if (m.find()) {
                    return Integer.parseInt(m.group(1));
                }
            }
            if (!p.isAlive()) {
                throw new IllegalStateException("process exited " + p.exitValue() + ": " + Files.readString(log));
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("process did not start: " + Files.readString(log));
    }

    String targetAddress() {
        return "127.0.0.1:" + targetPort;
    }

    MigrationControlGrpc.MigrationControlBlockingStub control(long seconds) {
        return control.withDeadlineAfter(seconds, TimeUnit.SECONDS);
    }

    /** VmHWM (peak resident set) of a process in bytes, from /proc/PID/status; -1 if unreadable. */
    static long peakRssBytes(Process p) {
        return procStatusKb(p, "VmHWM:") * 1024;
    }

    /**
     * CPU time (user + system) the process has used so far, from /proc/PID/stat; -1 if
     * unreadable. Unlike wall time it does not grow when other processes take the cores.
     */
    static long cpuNanos(Process p) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(p.pid()), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime (fields 14, 15)
            return ticks * 10_000_000L; // USER_HZ is 100 on Linux
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * CPU time per thread of the process so far, summed over threads whose names differ
     * only in digits (grpc-default-executor-0 and -1 are one line), in nanoseconds.
     */
    static java.util.Map<String, Long> cpuNanosByThread(Process p) {
        java.util.Map<String, Long> out = new java.util.TreeMap<>();
        Path tasks = Path.of("/proc", Long.toString(p.pid()), "task");
        try (var dirs = Files.list(tasks)) {
            for (Path t : (Iterable<Path>) dirs::iterator) {
                try {
                    String name = Files.readString(t.resolve("comm")).trim().replaceAll("\\d+", "N");
                    String stat = Files.readString(t.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    long ns = (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L;
                    out.merge(name, ns, Long::sum);
                } catch (IOException | RuntimeException e) {
                    // the thread ended meanwhile
                }
            }
        } catch (IOException e) {
            return out;
        }
        return out;
    }

    static long procStatusKb(Process p, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(p.pid()), "status"))) {
                if (line.startsWith(field)) {
                    return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    @Override
    public void close() throws InterruptedException {
        client.shutdownNow();
        for (Process p : new Process[] {source, target}) {
            p.destroy();
        }
        for (Process p : new Process[] {source, target}) {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
