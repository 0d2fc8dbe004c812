package dev.livemig.mm.script;

/** A malformed mmscript line: names the line and the problem. */
public final class ScriptError extends RuntimeException {
    public ScriptError(int line, String problem) {
        super("line " + line + ": " + problem);
    }
}
