package dev.livemig.mm.script;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.livemig.mm.KernelProfile;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Feeds the mmscript tool random bytes and random mixes of its own vocabulary. Whatever the
 * input, the tool must finish with exit code 0 (ran) or 1 (a one-line error naming the line),
 * never hang and never throw: a malformed script is the user's mistake, an exception is ours.
 *
 * <p>Seeds are fixed so a failure reproduces; the failing script is printed in the message.
 */
class MmScriptFuzzTest {
    /** A hang detector, not a performance bound: a healthy script here runs in milliseconds. */
    private static final long HANG_SECONDS = 60;

    private static final String[] OPS = {"mmap", "munmap", "madvise", "mprotect", "write", "read",
        "fill", "uffd", "api", "handler", "register", "unregister", "wp", "copy", "zeropage",
        "continue", "wake", "pagemap", "scan", "fork", "child", "bogus"};
    private static final String[] WORDS = {"r0", "r1", "u0", "u1", "anon", "thp", "shmem",
        "shmem-private", "shmem-anon", "hugetlb", "hugetlb-private", "alias", "dontneed", "remove",
        "populate-read", "populate-write", "hugepage", "nohugepage", "collapse", "none", "r", "rw",
        "missing", "wp", "minor", "missing,wp", "on", "off", "dontwake", "WP_ASYNC",
        "WP_UNPOPULATED", "WP_ASYNC,WP_UNPOPULATED", "PAGEFAULT_FLAG_WP", "EVENT_FORK",
        "EVENT_REMOVE", "MINOR_SHMEM", "auto", "copy", "copy-wp", "zeropage", "continue",
        "unprotect", "wake", "flags=WP_MATCHING,CHECK_WPASYNC", "mask=WRITTEN", "return=WRITTEN",
        "anyof=PRESENT,HUGE", "inverted=FILE", "max=3", "vec=0", "vec=2", "end=7", "size=95",
        "max=-1", "flags=7", "=", "x=", "#", "child", "0x10", "1e3", "", "\t"};
    private static final String[] NUMBERS = {"0", "1", "2", "7", "16", "511", "512", "513",
        "1024", "-1", "-4096", "4294967296", "9223372036854775807", "18446744073709551615",
        "99999999999999999999", "3.5", "+1"};

    private static ExecutorService pool;

    @BeforeAll
    static void startPool() {
        pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "mmscript-fuzz");
            t.setDaemon(true);
            return t;
        });
    }

    @AfterAll
    static void stopPool() {
        pool.shutdownNow();
    }

    static Stream<Long> seeds() {
        return IntStream.range(0, 150).mapToObj(i -> 0x5eedL * 31 + i);
    }

    @ParameterizedTest(name = "tokens seed {0}")
    @MethodSource("seeds")
    void randomTokenMixesEndInOutputOrALineError(long seed) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<String> lines = new ArrayList<>();
        // Start most scripts with a plausible prefix, so the random part reaches deep code
        // paths (faults, ioctls, scans) instead of failing on its first unknown region.
        if (rnd.nextInt(4) != 0) {
            lines.add("mmap r0 " + pick(rnd, "anon", "thp", "shmem", "hugetlb", "shmem-private",
                    "hugetlb-private", "shmem-anon") + " " + pick(rnd, "4", "16", "512", "1024"));
            lines.add("uffd u0 " + pick(rnd, "none", "WP_ASYNC", "WP_UNPOPULATED,WP_ASYNC", "EVENT_FORK"));
        }
        int n = 1 + rnd.nextInt(25);
        for (int i = 0; i < n; i++) {
            lines.add(randomLine(rnd));
        }
        runChecked(lines);
    }

    @ParameterizedTest(name = "bytes seed {0}")
    @MethodSource("seeds")
    void randomBytesEndInOutputOrALineError(long seed) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] b = new byte[rnd.nextInt(400)];
        for (int i = 0; i < b.length; i++) {
            // Bias towards printable text and newlines so the parser sees many short lines.
            int k = rnd.nextInt(10);
            b[i] = (byte) (k == 0 ? '\n' : k < 7 ? 32 + rnd.nextInt(95) : rnd.nextInt(256));
        }
        runChecked(new String(b, StandardCharsets.UTF_8).lines().toList());
    }

    @ParameterizedTest(name = "grammar seed {0}")
    @MethodSource("seeds")
    void wellFormedRandomScriptsRunWithoutInternalErrors(long seed) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<String> lines = new ArrayList<>();
        lines.add("uffd u0 " + pick(rnd, "WP_ASYNC,WP_UNPOPULATED", "EVENT_FORK,EVENT_REMOVE,EVENT_UNMAP",
                "none", "WP_UNPOPULATED,MINOR_SHMEM,MINOR_HUGETLBFS"));
        lines.add("mmap r0 " + pick(rnd, "anon", "thp", "shmem", "shmem-private", "shmem-anon",
                "hugetlb", "hugetlb-private") + " 1024");
        lines.add("mmap r1 " + pick(rnd, "anon", "thp", "shmem", "hugetlb") + " 512");
        if (rnd.nextBoolean()) {
            lines.add("handler u0 " + pick(rnd, "auto", "copy 7", "copy-wp 9", "zeropage",
                    "continue", "unprotect", "wake"));
        }
        int n = 5 + rnd.nextInt(30);
        boolean forked = false;
        for (int i = 0; i < n; i++) {
            String line = grammaticalLine(rnd);
            if (line.equals("fork")) {
                if (forked) {
                    continue;
                }
                forked = true;
            } else if (forked && rnd.nextInt(3) == 0 && !line.startsWith("uffd") && !line.startsWith("api")) {
                line = "child " + line;
            }
            lines.add(line);
        }
        runChecked(lines);
    }

    /** A line of the right shape with arguments drawn from valid values, sometimes off by one. */
    private static String grammaticalLine(SplittableRandom rnd) {
        boolean r0 = rnd.nextInt(3) != 0;
        String r = r0 ? "r0" : "r1";
        int pages = r0 ? 1024 : 512;
        // One line in fifty steps outside its region, which ends the script with a line error.
        int slack = rnd.nextInt(50) == 0 ? 8 : 0;
        int start = rnd.nextInt(pages);
        int len = 1 + rnd.nextInt(Math.min(pages - start, rnd.nextBoolean() ? 16 : 1024)) + slack;
        String range = start + " " + len;
        String page = String.valueOf(rnd.nextInt(pages + slack));
        return switch (rnd.nextInt(16)) {
            case 0 -> "write " + r + " " + page + " " + rnd.nextInt(1000);
            case 1 -> "read " + r + " " + page;
            case 2 -> "fill " + r + " " + range + " " + rnd.nextInt(1000);
            case 3 -> "madvise " + r + " " + range + " " + pick(rnd, "dontneed", "remove", "populate-read",
                    "populate-write", "hugepage", "nohugepage", "collapse");
            case 4 -> "mprotect " + r + " " + range + " " + pick(rnd, "none", "r", "rw");
            case 5 -> "register u0 " + r + " " + range + " " + pick(rnd, "missing", "wp", "minor",
                    "missing,wp", "wp,minor");
            case 6 -> "unregister u0 " + r + " " + range;
            case 7 -> "wp u0 " + r + " " + range + " " + pick(rnd, "on", "off", "off dontwake", "on dontwake");
            case 8 -> "copy u0 " + r + " " + range + " 5" + pick(rnd, "", " wp", " dontwake", " wp dontwake");
            case 9 -> "zeropage u0 " + r + " " + range + pick(rnd, "", " dontwake");
            case 10 -> "continue u0 " + r + " " + range + pick(rnd, "", " wp");
            case 11 -> "wake u0 " + r + " " + range;
            case 12 -> "pagemap " + r + " " + range;
            case 13 -> "scan " + r + " " + range + pick(rnd, "", " flags=WP_MATCHING,CHECK_WPASYNC mask=WRITTEN return=WRITTEN",
                    " return=WPALLOWED,WRITTEN,FILE,PRESENT,SWAPPED,PFNZERO,HUGE", " max=3 vec=2",
                    " inverted=PRESENT mask=PRESENT return=PRESENT", " anyof=HUGE,PFNZERO return=HUGE,PFNZERO");
            case 14 -> "fork";
            default -> "munmap " + r + " " + range;
        };
    }

    private static String randomLine(SplittableRandom rnd) {
        StringBuilder sb = new StringBuilder(OPS[rnd.nextInt(OPS.length)]);
        int args = rnd.nextInt(8);
        for (int a = 0; a < args; a++) {
            sb.append(' ').append(rnd.nextBoolean() ? WORDS[rnd.nextInt(WORDS.length)]
                    : NUMBERS[rnd.nextInt(NUMBERS.length)]);
        }
        return sb.toString();
    }

    private static String pick(SplittableRandom rnd, String... xs) {
        return xs[rnd.nextInt(xs.length)];
    }

    private static void runChecked(List<String> lines) throws Exception {
        String script = String.join("\n", lines);
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bos, true, StandardCharsets.UTF_8);
        ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(errBytes, true, StandardCharsets.UTF_8);
        Future<Integer> f = pool.submit(() -> MmScript.run(lines, KernelProfile.MAINLINE, out, err));
        int rc;
        try {
            rc = f.get(HANG_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            fail("mmscript hung on:\n" + script);
            return;
        } catch (java.util.concurrent.ExecutionException e) {
            throw new AssertionError("mmscript threw " + e.getCause() + " on:\n" + script, e.getCause());
        }
        assertTrue(rc == 0 || rc == 1, "exit code " + rc + " on:\n" + script);
        if (System.getProperty("fuzz.show") != null) {
            System.out.println("rc=" + rc + " lines=" + lines.size() + " out=" + bos.toString(StandardCharsets.UTF_8).lines().count());
        }
        String msg = errBytes.toString(StandardCharsets.UTF_8);
        if (rc == 1) {
            assertTrue(msg.startsWith("mmscript: line "), "error does not name its line: " + msg + "\non:\n" + script);
            assertEquals(1, msg.strip().lines().count(), "error is not one line: " + msg);
        }
    }
}
