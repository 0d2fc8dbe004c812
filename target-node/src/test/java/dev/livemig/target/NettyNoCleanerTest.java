package dev.livemig.target;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link TargetNode#allowNettyNoCleanerBuffers()}: with the packages the node jars open
 * (their Add-Opens manifest entries), Netty allocates direct buffers without zeroing them;
 * without those opens it keeps its zeroing allocator and still works. Each case runs in a
 * JVM of its own, since Netty decides once, when its classes load.
 */
class NettyNoCleanerTest {
    /** Prints whether Netty frees its direct buffers itself, after the node's switch. */
    public static final class Probe {
        public static void main(String[] args) {
            TargetNode.allowNettyNoCleanerBuffers();
            System.out.print(io.grpc.netty.shaded.io.netty.util.internal.PlatformDependent.useDirectBufferNoCleaner());
        }
    }

    private static String probe(String... jvmArgs) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(List.of(jvmArgs));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Probe.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        return out;
    }

    @Test
    void withTheJarsOpensNettySkipsZeroing() throws Exception {
        assertEquals("true", probe("--add-opens=java.base/java.nio=ALL-UNNAMED",
                "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED"));
    }

    @Test
    void withoutThemNettyKeepsItsZeroingAllocator() throws Exception {
        assertEquals("false", probe());
    }

    @Test
    void aValueOnTheCommandLineWins() throws Exception {
        assertEquals("false", probe("-D" + TargetNode.NETTY_REFLECTION_PROPERTY + "=false",
                "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED"));
    }
}
