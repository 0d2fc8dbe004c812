package dev.livemig.mm.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.mm.KernelProfile;
import dev.livemig.mm.script.MmScript;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Replays every case of shared/conformance (recorded on a real Linux 6.18 kernel) through
 * the mmscript runner in-process: one test per case, named after it. The real kernel is
 * the referee: the output must match the recording byte for byte.
 */
class ConformanceTest {
    static Path casesDir() {
        String dir = System.getProperty("conformance.dir", "../../shared/conformance/cases");
        return Path.of(dir).toAbsolutePath().normalize();
    }

    static Set<String> knownFailures() throws IOException {
        try (InputStream in = ConformanceTest.class.getResourceAsStream("/conformance-known-failures.txt")) {
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return text.lines().map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#"))
                    .collect(Collectors.toSet());
        }
    }

    static Stream<String> cases() throws IOException {
        Path dir = casesDir();
        assertTrue(Files.isDirectory(dir), "conformance corpus not found at " + dir);
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".mms"))
                    .map(n -> n.substring(0, n.length() - 4)).sorted().collect(Collectors.toList());
            assertTrue(names.size() >= 144, "expected the 144 recorded cases, found " + names.size());
            return names.stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesRealKernel(String name) throws IOException {
        Path dir = casesDir();
        List<String> script = Files.readAllLines(dir.resolve(name + ".mms"), StandardCharsets.UTF_8);
        String want = Files.readString(dir.resolve(name + ".out"), StandardCharsets.UTF_8).stripTrailing();
        String got = MmScript.runToString(script, KernelProfile.MAINLINE).stripTrailing();
        if (knownFailures().contains(name)) {
            assertNotEquals(want, got, name + " now matches the kernel: remove it from conformance-known-failures.txt");
        } else {
            assertEquals(want, got, name);
        }
    }
}
