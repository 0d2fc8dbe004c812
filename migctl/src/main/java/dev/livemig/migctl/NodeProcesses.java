package dev.livemig.migctl;

import static dev.livemig.migctl.render.Units.f;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@link DemoNodes} as two child JVMs on loopback: the target node's and the source node's
 * own mains ({@code TargetNodeMain}, {@code SourceNodeMain}), run from migctl's own class
 * path (the shaded {@code migctl.jar} holds both) with {@code --port 0}. Each node prints
 * "... listening on host:port" once it serves; the port is read back from its log.
 *
 * <p>The children die with migctl: {@link Running#close()} stops them (SIGTERM, so their
 * shutdown hooks run, then SIGKILL after a grace period), and a shutdown hook of this JVM
 * does the same on Ctrl-C or any other exit.
 */
public final class NodeProcesses implements DemoNodes {
    static final String TARGET_MAIN = "dev.livemig.target.TargetNodeMain";
    static final String SOURCE_MAIN = "dev.livemig.source.SourceNodeMain";
    private static final String HOST = "127.0.0.1";
    private static final Pattern LISTENING = Pattern.compile("listening on \\S*:(\\d+)");
    private static final long START_TIMEOUT_MS = 60_000;
    private static final long STOP_GRACE_MS = 10_000;

    /** Heap of each node: guest memory lives off-heap (frames via Unsafe), the heap holds metadata. */
    static final String NODE_HEAP = "-Xmx768m";

    @Override
    public Running start(PrintWriter out) throws IOException, InterruptedException {
        Path logs = Files.createTempDirectory("migctl-demo-");
        Started s = new Started(out);
        Runtime.getRuntime().addShutdownHook(s.hook);
        try {
            s.target = launch(TARGET_MAIN, logs.resolve("target-node.log"));
            s.targetPort = awaitPort(s.target, logs.resolve("target-node.log"));
            out.println(f("target node: pid %d, listening on %s:%d", s.target.pid(), HOST, s.targetPort));
            s.source = launch(SOURCE_MAIN, logs.resolve("source-node.log"));
            s.sourcePort = awaitPort(s.source, logs.resolve("source-node.log"));
            out.println(f("source node: pid %d, listening on %s:%d (logs in %s)", s.source.pid(), HOST,
                    s.sourcePort, logs));
            return s;
        } catch (IOException | InterruptedException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** This JVM's java binary and class path: the nodes run the classes migctl was started from. */
    static List<String> command(String mainClass) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ArrayList<>(List.of(java, NODE_HEAP, "-cp", System.getProperty("java.class.path"), mainClass,
                "--host", HOST, "--port", "0"));
    }

    private static Process launch(String mainClass, Path log) throws IOException {
        return new ProcessBuilder(command(mainClass)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static int awaitPort(Process p, Path log) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MS);
        while (System.nanoTime() < deadline) {
            Matcher m = LISTENING.matcher(Files.readString(log));
            if (m.find()) {
                return Integer.parseInt(m.group(1));
            }
            if (!p.isAlive()) {
                throw new IOException("node exited with " + p.exitValue() + " before serving: " + tail(log));
            }
            Thread.sleep(50);
        }
        throw new IOException("node did not serve within " + START_TIMEOUT_MS + " ms: " + tail(log));
    }

    private static String tail(Path log) throws IOException {
        String s = Files.readString(log).strip();
        return s.isEmpty() ? "(no output; log " + log + ")" : s.substring(Math.max(0, s.length() - 2000));
    }

    private final class Started implements Running {
        final PrintWriter out;
        final Thread hook = new Thread(this::stop, "migctl-demo-nodes");
        volatile Process target;
        volatile Process source;
        int targetPort;
        int sourcePort;
        private boolean stopped;

        Started(PrintWriter out) {
            this.out = out;
        }

        @Override
        public HostPort source() {
            return new HostPort(HOST, sourcePort);
        }

        @Override
        public HostPort target() {
            return new HostPort(HOST, targetPort);
        }

        @Override
        public void close() {
            stop();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException alreadyExiting) {
                // the hook is running or has run: nothing left to stop
            }
            out.println("stopped the source and target nodes");
            out.flush();
        }

        /** Source first (it cancels what still runs), then the target. */
        private synchronized void stop() {
            if (stopped) {
                return;
            }
            stopped = true;
            for (Process p : new Process[] {source, target}) {
                if (p == null) {
                    continue;
                }
                p.destroy();
                try {
                    if (!p.waitFor(STOP_GRACE_MS, TimeUnit.MILLISECONDS)) {
                        p.destroyForcibly().waitFor(STOP_GRACE_MS, TimeUnit.MILLISECONDS);
                    }
                } catch (InterruptedException e) {
                    p.destroyForcibly();
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
