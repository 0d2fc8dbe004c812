package dev.livemig.migctl.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.livemig.migctl.InProcessMigration;
import dev.livemig.proto.v1.MigrationInfo;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HTML report of a real (in-process) migration, opened in headless Chromium: the
 * script ran without error, every chart drew one point per round (and the latency chart
 * one bar per histogram bucket), and a screenshot is kept as a build artifact
 * (target/report-screenshot.png).
 *
 * <p>Chromium is required: this test fails when it is missing. A developer machine without
 * it excludes the test explicitly with {@code -Dmigctl.skipChromium=true} (see the pom).
 */
class ReportChromiumIT {
    private static final long CHROMIUM_TIMEOUT_S = 120;
    private static final byte[] PNG_MAGIC = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private static MigrationInfo info;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void migrate() throws Exception {
        info = InProcessMigration.hybrid();
    }

    @Test
    void reportRendersEveryChartInHeadlessChromium() throws Exception {
        String chromium = findChromium();
        int rounds = info.getRoundsCount();
        assertTrue(rounds >= 2, "a hybrid migration has pre-copy rounds: " + rounds);
        assertTrue(info.getStats().getPostcopyFaultLatency().getCount() > 0,
                "the scenario must fault in post-copy, else the latency chart is not exercised");

        Path dir = Path.of(System.getProperty("migctl.reportDir", tmp.resolve("report").toString()));
        Path html = MigrationReport.write(dir, info);
        String url = html.toUri().toString();

        String dom = run(chromium, "--dump-dom", url);
        assertFalse(Pattern.compile("<body[^>]*data-error").matcher(dom).find(), () -> "the report script threw: " + excerpt(dom, "id=\"error\""));
        assertRendered(dom, "table", "summary", -1);
        assertRendered(dom, "figure", "chart-rounds", rounds);
        assertRendered(dom, "figure", "chart-downtime", rounds);
        int buckets = info.getStats().getPostcopyFaultLatency().getBucketsCount();
        assertTrue(buckets >= 1, "the source node serves the latency distribution");
        assertRendered(dom, "figure", "chart-latency", buckets);
        assertEquals(rounds, count(dom, "data-series=\"chart-rounds/bars\""));
        assertEquals(rounds, count(dom, "data-series=\"chart-rounds/line\""));
        assertEquals(rounds, count(dom, "data-series=\"chart-downtime/bars\""));
        assertEquals(rounds, count(dom, "data-series=\"chart-downtime/line\""));
        assertEquals(buckets, count(dom, "data-series=\"chart-latency/bars\""));
        assertEquals(buckets, count(dom, "data-series=\"chart-latency/line\""));
        // the histogram's bars are the buckets' counts, and they add up to every fault
        Matcher bar = Pattern.compile("data-series=\"chart-latency/bars\" data-value=\"(\\d+)\"").matcher(dom);
        long faults = 0;
        while (bar.find()) {
            faults += Long.parseLong(bar.group(1));
        }
        assertEquals(info.getStats().getPostcopyFaultLatency().getCount(), faults);
        // the rounds table: a header row plus one row per round
        String roundsTable = excerpt(dom, "id=\"rounds\"");
        assertEquals(rounds + 1, count(roundsTable.substring(0, roundsTable.indexOf("</table>")), "<tr>"));

        Path shot = Path.of(System.getProperty("migctl.screenshot", tmp.resolve("report-screenshot.png").toString()));
        Files.createDirectories(shot.toAbsolutePath().getParent());
        Path raw = tmp.resolve("shot.png");
        run(chromium, "--screenshot=" + raw, "--window-size=1280,2000", url);
        assertTrue(Files.exists(raw), "chromium wrote no screenshot");
        byte[] png = Files.readAllBytes(raw);
        assertTrue(png.length > 10_000, "a blank page compresses below 10 kB: " + png.length);
        assertArrayEquals(PNG_MAGIC, Arrays.copyOf(png, PNG_MAGIC.length));
        Files.copy(raw, shot, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void assertRendered(String dom, String tag, String id, int points) {
        Matcher m = Pattern.compile("<" + tag + "\\b[^>]*\\bid=\"" + id + "\"[^>]*>").matcher(dom);
        assertTrue(m.find(), () -> "no <" + tag + " id=" + id + "> in the DOM");
        String open = m.group();
        assertTrue(open.contains("data-rendered=\"true\""), () -> id + " was not rendered: " + open);
        if (points >= 0) {
            assertTrue(open.contains("data-points=\"" + points + "\""), () -> id + ": expected " + points
                    + " data points: " + open);
        }
    }

    private static int count(String s, String needle) {
        int n = 0;
        for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + needle.length())) {
            n++;
        }
        return n;
    }

    private static String excerpt(String dom, String anchor) {
        int i = dom.indexOf(anchor);
        return i < 0 ? "(" + anchor + " not found)" : dom.substring(i, Math.min(dom.length(), i + 4000));
    }

    /** Runs chromium headless with a fresh profile and no network chatter; returns stdout. */
    private static String run(String chromium, String... args) throws IOException, InterruptedException {
        Path profile = Files.createTempDirectory(tmp, "profile");
        List<String> cmd = new ArrayList<>(List.of(chromium, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(tmp, "chromium", ".out");
        Path err = Files.createTempFile(tmp, "chromium", ".err");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(CHROMIUM_TIMEOUT_S, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("chromium did not finish within " + CHROMIUM_TIMEOUT_S + " s: " + cmd);
        }
        assertEquals(0, p.exitValue(), () -> "chromium failed: " + cmd + "\n" + read(err));
        return Files.readString(out);
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static String findChromium() {
        String configured = System.getProperty("migctl.chromium");
        if (configured != null && !configured.isEmpty()) {
            return configured;
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            for (String name : List.of("chromium", "chromium-browser")) {
                File f = new File(dir, name);
                if (f.canExecute()) {
                    return f.getPath();
                }
            }
        }
        fail("chromium not found on PATH: install Debian's chromium package (apt-get install -y chromium), "
                + "or exclude this test explicitly with -Dmigctl.skipChromium=true");
        return null;
    }
}
