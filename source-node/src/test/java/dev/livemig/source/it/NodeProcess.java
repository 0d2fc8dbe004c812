package dev.livemig.source.it;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A node main (source or target) in a JVM of its own on a loopback port the kernel picks,
 * its output in {@code target/it-logs/NAME.log}. The ITs that need real processes share
 * this so they start nodes the way the README and docker-compose do: the same main, the
 * same flags, only the port left to the OS.
 */
final class NodeProcess implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening on .*:(\\d+)");

    final Process process;
    final Path log;
    final int port;

    private NodeProcess(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.port = port;
    }

    /** Starts {@code main} with {@code -Xmx<heapMib>m} and {@code extraArgs}, and waits for its port. */
    static NodeProcess start(Class<?> main, String name, int heapMib, String... extraArgs) throws Exception {
        Path log = Files.createDirectories(Path.of("target", "it-logs")).resolve(name + ".log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // the opens the node jars' manifests grant, so that the ITs run Netty's buffers as a deployed node does
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx" + heapMib + "m",
                "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), main.getName(), "--host", "127.0.0.1", "--port", "0"));
        cmd.addAll(List.of(extraArgs));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            return new NodeProcess(p, log, awaitPort(p, log));
        } catch (Exception | AssertionError e) {
            p.destroyForcibly();
            throw e;
        }
    }

    String address() {
        return "127.0.0.1:" + port;
    }

    /** The port from the node's "listening on" line; fails if the process dies or says nothing for 60 s. */
    private static int awaitPort(Process p, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (Files.exists(log)) {
                Matcher m = LISTENING.matcher(Files.readString(log));
                if (m.find()) {
                    return Integer.parseInt(m.group(1));
                }
            }
            if (!p.isAlive()) {
                throw new AssertionError("node exited " + p.exitValue() + ": " + Files.readString(log));
            }
            Thread.sleep(50);
        }
        throw new AssertionError("node did not start: " + Files.readString(log));
    }

    /** Kills the node (a crash, as far as its peers can tell) and waits for it to be gone. */
    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }
}
