package dev.livemig.migctl.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migctl.report.MigrationReport;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationState;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * docker-compose.yml without Docker: the same three programs (target, source, driver) with
 * the same arguments and environment as the compose file and docker/Dockerfile give them,
 * as processes on this machine, started in dependency order, each node waited for with its
 * own compose health check ({@code migctl health}). Only what a container network changes
 * is translated: the ports (LIVEMIG_SOURCE_PORT and LIVEMIG_TARGET_PORT, which the compose
 * file reads, set to free ports), service names to 127.0.0.1, {@code java} to this JVM's,
 * the images' {@code /opt/livemig/*.jar} to the jars this build made, and bind-mounted
 * container paths to a temporary directory.
 */
class ComposeIT {
    private static final long HEALTH_TIMEOUT_S = 120;
    private static final Map<String, String> JARS = Map.of(
            "/opt/livemig/source-node.jar", "source-node/target/source-node.jar",
            "/opt/livemig/target-node.jar", "target-node/target/target-node.jar",
            "/opt/livemig/migctl.jar", "migctl/target/migctl.jar");

    private final List<Process> started = new ArrayList<>();

    @TempDir
    Path tmp;

    @AfterEach
    void stopAll() throws InterruptedException {
        for (Process p : started) {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    private static Path repo() {
        return Path.of(System.getProperty("migctl.repo", "..")).toAbsolutePath().normalize();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** The container command line as a command line on this machine. */
    private List<String> local(ComposeTopology.Service s, List<String> argv) {
        List<String> out = new ArrayList<>();
        for (String a : argv) {
            String x = a;
            if (x.equals("java")) {
                x = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            }
            if (JARS.containsKey(x)) {
                Path jar = repo().resolve(JARS.get(x));
                assertTrue(Files.exists(jar), "built by 'mvn package' before the ITs: " + jar);
                x = jar.toString();
            }
            for (String service : List.of("source", "target", "driver")) {
                if (x.startsWith(service + ":")) {
                    x = "127.0.0.1" + x.substring(service.length());
                }
            }
            for (Map.Entry<String, String> v : s.volumes().entrySet()) {
                if (x.equals(v.getKey()) || x.startsWith(v.getKey() + "/")) {
                    x = tmp.resolve("volume-" + s.name()).resolve(x.substring(v.getKey().length()).replaceFirst("^/", ""))
                            .toString();
                }
            }
            out.add(x);
        }
        return out;
    }

    private Process start(ComposeTopology.Service s, List<String> argv) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(local(s, argv)).redirectErrorStream(true)
                .redirectOutput(tmp.resolve(s.name() + ".log").toFile());
        pb.environment().putAll(s.env());
        Process p = pb.start();
        started.add(p);
        return p;
    }

    private String log(String service) {
        return DemoIT.read(tmp.resolve(service + ".log"));
    }

    /** Runs the service's compose health check (CMD form) until it exits 0. */
    private void awaitHealthy(ComposeTopology.Service s, Process p) throws Exception {
        List<String> test = s.healthcheck();
        assertEquals("CMD", test.get(0), s.name() + ": the health check is in CMD form");
        ComposeTopology.Service probe = new ComposeTopology.Service(s.name() + "-health", test.subList(1, test.size()),
                s.env(), List.of(), Map.of(), List.of());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(HEALTH_TIMEOUT_S);
        while (true) {
            assertTrue(p.isAlive(), () -> s.name() + " exited: " + log(s.name()));
            Process h = start(probe, probe.argv());
            assertTrue(h.waitFor(60, TimeUnit.SECONDS), "health check hung");
            if (h.exitValue() == 0) {
                assertTrue(log(probe.name()).contains("SERVING"), log(probe.name()));
                return;
            }
            assertTrue(System.nanoTime() < deadline, () -> s.name() + " never became healthy: "
                    + log(probe.name()) + "\n" + log(s.name()));
            Thread.sleep(500);
        }
    }

    @Test
    void composeTopology_runsOneMigrationToCompletion_withHealthyNodes() throws Exception {
        Map<String, String> ports = Map.of("LIVEMIG_SOURCE_PORT", String.valueOf(freePort()),
                "LIVEMIG_TARGET_PORT", String.valueOf(freePort()));
        ComposeTopology compose = new ComposeTopology(repo(), ports);
        assertEquals(List.of("target", "source", "driver"), compose.serviceNames());
        ComposeTopology.Service target = compose.service("target");
        ComposeTopology.Service source = compose.service("source");
        ComposeTopology.Service driver = compose.service("driver");
        assertEquals(List.of("target"), source.dependsOn());
        assertEquals(List.of("source", "target"), driver.dependsOn());

        Process t = start(target, target.argv());
        awaitHealthy(target, t);
        assertTrue(log("target").contains("listening on 0.0.0.0:" + ports.get("LIVEMIG_TARGET_PORT")), log("target"));
        Process s = start(source, source.argv());
        awaitHealthy(source, s);

        Process d = start(driver, driver.argv());
        assertTrue(d.waitFor(300, TimeUnit.SECONDS), () -> "the driver did not finish: " + log("driver"));
        String out = log("driver");
        assertEquals(0, d.exitValue(), out);
        assertTrue(out.contains("guest guest-1: 256.0 MiB, HOTSET workload at 20000 pages/s"), out);
        assertTrue(out.contains(": COMPLETED\n  mode               PRECOPY\n"), out);
        assertTrue(out.contains("  pages verified     65536, mismatched 0\n"), out);
        assertTrue(out.contains("  tracker misses     0 "), out);
        Path reports = tmp.resolve("volume-driver");
        MigrationInfo info = MigrationReport.parseJson(Files.readString(reports.resolve("report.json")));
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState());
        assertEquals("127.0.0.1:" + ports.get("LIVEMIG_TARGET_PORT"), info.getTargetAddress());
        assertTrue(Files.exists(reports.resolve("report.html")));
        // the nodes are still healthy after the migration
        awaitHealthy(target, t);
        awaitHealthy(source, s);
    }
}
