package dev.livemig.mm.script;

import java.util.List;

/** One parsed mmscript line: {@code child} marks a command run in the forked child. */
public record Command(int line, boolean child, String op, List<String> args) {
    public String arg(int i) {
        return args.get(i);
    }

    public int argc() {
        return args.size();
    }
}
