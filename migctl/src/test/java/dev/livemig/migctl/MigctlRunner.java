package dev.livemig.migctl;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs migctl in-process with captured stdout and stderr. */
final class MigctlRunner {
    record Result(int exit, String out, String err) {
    }

    private MigctlRunner() {
    }

    static Result run(ChannelFactory channels, String... args) {
        CommandLine cl = Migctl.commandLine(channels);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Result(exit, out.toString(), err.toString());
    }

    static Result run(String... args) {
        return run(ChannelFactory.NETTY, args);
    }
}
