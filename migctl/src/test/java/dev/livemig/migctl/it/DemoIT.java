package dev.livemig.migctl.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migctl.report.MigrationReport;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code java -jar migctl.jar demo} as a user runs it: the shaded jar built by this module,
 * which starts a target and a source node as two more JVMs on loopback, migrates a guest,
 * prints the rounds and the summary, writes the report and stops both nodes.
 */
class DemoIT {
    private static final Pattern NODE = Pattern.compile("(target|source) node: pid (\\d+), listening on 127\\.0\\.0\\.1:\\d+");

    record Run(int exit, String out, List<Long> nodePids) {
    }

    static Process migctl(Path log, String... args) throws Exception {
        String jar = System.getProperty("migctl.jar", "target/migctl.jar");
        assertTrue(Files.exists(Path.of(jar)), "the shaded jar is built in package, before the ITs: " + jar);
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", jar));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static Run demo(Path dir, String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of("demo", "--report-dir", dir.resolve("report").toString()));
        all.addAll(List.of(args));
        Path log = dir.resolve("demo.log");
        Process p = migctl(log, all.toArray(String[]::new));
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), () -> "the demo did not end: " + read(log));
        return new Run(p.exitValue(), read(log), pids(read(log)));
    }

    static List<Long> pids(String out) {
        List<Long> pids = new ArrayList<>();
        Matcher m = NODE.matcher(out);
        while (m.find()) {
            pids.add(Long.parseLong(m.group(2)));
        }
        return pids;
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    private static void assertGone(List<Long> pids) throws InterruptedException {
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(h -> h.onExit().join());
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "node " + pid + " still runs");
        }
    }

    @Test
    void defaultScenarioOnASmallGuest_migratesVerifiesReportsAndStopsBothNodes(@TempDir Path dir) throws Exception {
        Run r = demo(dir, "--guest-mib", "64");
        assertEquals(0, r.exit(), r.out());
        assertEquals(2, r.nodePids().size(), "a target and a source process: " + r.out());
        assertFalse(r.nodePids().contains(ProcessHandle.current().pid()));
        assertTrue(r.out().contains("guest guest-1: 64.0 MiB, HOTSET workload at 20000 pages/s"), r.out());
        assertTrue(r.out().contains("round  dirty pages   sent pages"), "the round table: " + r.out());
        assertTrue(r.out().contains(": COMPLETED\n  mode               PRECOPY\n  total time "), r.out());
        assertTrue(Pattern.compile("  downtime           measured \\S+ ms .*predicted \\S+ ms, limit 300 ms")
                .matcher(r.out()).find(), r.out());
        assertTrue(r.out().contains("  pages verified     16384, mismatched 0\n"), r.out());
        assertTrue(r.out().contains("  tracker misses     0 "), r.out());
        assertTrue(r.out().contains("report: " + dir.resolve("report/report.html").toAbsolutePath()), r.out());
        assertTrue(r.out().endsWith("stopped the source and target nodes\n"), r.out());
        MigrationInfo info = MigrationReport.parseJson(Files.readString(dir.resolve("report/report.json")));
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState());
        assertEquals(16384, info.getStats().getVerifiedPages());
        assertEquals(0, info.getStats().getVerifyMismatchPages());
        assertTrue(info.getTargetAddress().startsWith("127.0.0.1:"), "the source dialled the target over TCP");
        assertEquals(MigrationReport.html(info), Files.readString(dir.resolve("report/report.html")));
        assertGone(r.nodePids());
    }

    @Test
    void scenarioOptions_reachTheNodes(@TempDir Path dir) throws Exception {
        Run r = demo(dir, "--guest-mib", "32", "--mode", "postcopy", "--workload", "uniform", "--dirty-rate", "5000",
                "--downtime-limit-ms", "50");
        assertEquals(0, r.exit(), r.out());
        assertTrue(r.out().contains("guest guest-1: 32.0 MiB, UNIFORM workload at 5000 pages/s"), r.out());
        assertTrue(r.out().contains("  mode               POSTCOPY\n"), r.out());
        MigrationInfo info = MigrationReport.parseJson(Files.readString(dir.resolve("report/report.json")));
        assertEquals(MigrationMode.MIGRATION_MODE_POSTCOPY, info.getParameters().getMode());
        assertEquals(50, info.getParameters().getDowntimeLimitMs());
        assertEquals(32 << 20, info.getStats().getGuestSizeBytes());
        assertEquals(0, info.getStats().getVerifyMismatchPages());
        assertGone(r.nodePids());
    }

    @Test
    void killingMigctl_stopsBothNodes(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("demo.log");
        // a guest large enough that the demo is still running when it is interrupted
        Process p = migctl(log, "demo", "--guest-mib", "2048", "--report-dir", dir.resolve("report").toString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (pids(read(log)).size() < 2) {
            assertTrue(p.isAlive(), () -> "the demo ended early: " + read(log));
            assertTrue(System.nanoTime() < deadline, () -> "the nodes did not start: " + read(log));
            Thread.sleep(50);
        }
        List<Long> nodes = pids(read(log));
        p.destroy(); // SIGTERM, as Ctrl-C's SIGINT: the JVM runs its shutdown hooks
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "migctl did not exit");
        assertGone(nodes);
    }
}
