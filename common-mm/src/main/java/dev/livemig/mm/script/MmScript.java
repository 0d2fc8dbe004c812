package dev.livemig.mm.script;

import dev.livemig.mm.Kernel;
import dev.livemig.mm.KernelProfile;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The mmscript replay tool: {@code java -jar mmscript.jar [--profile mainline|seed-v11] FILE.mms}
 * runs a scenario (shared/conformance/FORMAT.md) on a fresh simulated kernel and prints
 * what the process observes.
 */
public final class MmScript {
    private MmScript() {
    }

    public static void main(String[] args) {
        KernelProfile profile = KernelProfile.MAINLINE;
        String file = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--profile") && i + 1 < args.length) {
                profile = KernelProfile.parse(args[++i]);
            } else if (args[i].equals("-h") || args[i].equals("--help")) {
                System.out.println("usage: mmscript [--profile mainline|seed-v11] FILE.mms");
                return;
            } else {
                file = args[i];
            }
        }
        if (file == null) {
            System.err.println("usage: mmscript [--profile mainline|seed-v11] FILE.mms");
            System.exit(2);
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of(file), StandardCharsets.UTF_8);
        } catch (IOException e) {
            System.err.println("mmscript: cannot read " + file + ": " + e.getMessage());
            System.exit(2);
            return;
        }
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        int rc = run(lines, profile, out);
        out.flush();
        System.exit(rc);
    }

    /** Runs a script, printing to {@code out}; returns the exit code (0 ok, 1 script error). */
    public static int run(List<String> lines, KernelProfile profile, PrintStream out) {
        return run(lines, profile, out, System.err);
    }

    /** As {@link #run(List, KernelProfile, PrintStream)}, with the one-line error going to {@code err}. */
    public static int run(List<String> lines, KernelProfile profile, PrintStream out, PrintStream err) {
        List<Command> cmds;
        try {
            cmds = ScriptParser.parse(lines);
        } catch (ScriptError e) {
            err.println("mmscript: " + e.getMessage());
            return 1;
        }
        try (Kernel kernel = new Kernel(new Kernel.Config().profile(profile));
             ScriptRunner runner = new ScriptRunner(kernel, out)) {
            runner.runAll(cmds);
        } catch (ScriptError e) {
            out.flush();
            err.println("mmscript: " + e.getMessage());
            return 1;
        }
        return 0;
    }

    /** Runs a script and returns its output as a string (for tests). */
    public static String runToString(List<String> lines, KernelProfile profile) {
        java.io.ByteArrayOutputStream bos = new java.io.ByteArrayOutputStream();
        PrintStream ps = new PrintStream(bos, true, StandardCharsets.UTF_8);
        run(lines, profile, ps);
        ps.flush();
        return bos.toString(StandardCharsets.UTF_8);
    }
}
