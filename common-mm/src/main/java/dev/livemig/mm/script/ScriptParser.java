package dev.livemig.mm.script;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Parses mmscript text and checks each command's shape (the argument counts and numbers). */
public final class ScriptParser {
    /** op -> {min args, max args}. */
    private static final Map<String, int[]> ARITY = Map.ofEntries(
            Map.entry("mmap", new int[] {3, 3}), Map.entry("munmap", new int[] {3, 3}),
            Map.entry("madvise", new int[] {4, 4}), Map.entry("mprotect", new int[] {4, 4}),
            Map.entry("write", new int[] {3, 3}), Map.entry("read", new int[] {2, 2}),
            Map.entry("fill", new int[] {4, 4}), Map.entry("uffd", new int[] {2, 2}),
            Map.entry("api", new int[] {2, 2}), Map.entry("handler", new int[] {2, 3}),
            Map.entry("register", new int[] {5, 5}), Map.entry("unregister", new int[] {4, 4}),
            Map.entry("wp", new int[] {5, 6}), Map.entry("copy", new int[] {5, 7}),
            Map.entry("zeropage", new int[] {4, 5}), Map.entry("continue", new int[] {4, 5}),
            Map.entry("wake", new int[] {4, 4}), Map.entry("pagemap", new int[] {3, 3}),
            Map.entry("scan", new int[] {3, 20}), Map.entry("fork", new int[] {0, 0}));

    private ScriptParser() {
    }

    public static List<Command> parse(List<String> lines) {
        List<Command> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String text = lines.get(i);
            int hash = text.indexOf('#');
            if (hash >= 0) {
                text = text.substring(0, hash);
            }
            text = text.strip();
            if (text.isEmpty()) {
                continue;
            }
            List<String> toks = new ArrayList<>(Arrays.asList(text.split("\\s+")));
            boolean child = false;
            if (toks.get(0).equals("child")) {
                child = true;
                toks.remove(0);
                if (toks.isEmpty()) {
                    throw new ScriptError(i + 1, "'child' needs a command");
                }
            }
            String op = toks.remove(0);
            int[] ar = ARITY.get(op);
            if (ar == null) {
                throw new ScriptError(i + 1, "unknown command '" + op + "'");
            }
            if (toks.size() < ar[0] || toks.size() > ar[1]) {
                throw new ScriptError(i + 1, op + " takes " + (ar[0] == ar[1] ? ar[0] : ar[0] + "-" + ar[1])
                        + " arguments, got " + toks.size());
            }
            out.add(new Command(i + 1, child, op, toks));
        }
        return out;
    }

    static long number(Command c, int i, String what) {
        String s = c.arg(i);
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            try {
                return Long.parseUnsignedLong(s);
            } catch (NumberFormatException e2) {
                throw new ScriptError(c.line(), what + " must be a number, got '" + s + "'");
            }
        }
    }
}
