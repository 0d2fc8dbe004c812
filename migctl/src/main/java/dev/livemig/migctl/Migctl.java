package dev.livemig.migctl;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * migctl: drives live migrations through a source node's MigrationControl service.
 *
 * <p>Exit codes: 0 success, 1 the operation or migration failed, 2 a bad command line,
 * 3 a node could not be reached. Every error is one line on stderr starting "migctl".
 */
@Command(name = "migctl", mixinStandardHelpOptions = true, version = "migctl 0.1.0",
        description = "Drives live migrations of simulated guests between livemig nodes.",
        subcommands = {DemoCommand.class, GuestCommand.class, MigrateCommand.class, RoundCommand.class,
                WatchCommand.class, InfoCommand.class, CancelCommand.class, SetCommand.class,
                DirtyRateCommand.class, ReportCommand.class, HealthCommand.class,
                CommandLine.HelpCommand.class})
public final class Migctl implements Runnable {
    public static final int EXIT_OK = 0;
    public static final int EXIT_FAILED = 1;
    public static final int EXIT_USAGE = 2;
    public static final int EXIT_UNREACHABLE = 3;

    @Spec
    CommandSpec spec;

    private final ChannelFactory channels;

    public Migctl(ChannelFactory channels) {
        this.channels = channels;
    }

    ChannelFactory channels() {
        return channels;
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "a command is required");
    }

    /** The command line with migctl's error handling: one line on stderr and an exit code. */
    public static CommandLine commandLine(ChannelFactory channels) {
        CommandLine cl = new CommandLine(new Migctl(channels));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println(c.getCommandSpec().qualifiedName() + ": " + ex.getMessage() + " (see '"
                    + c.getCommandSpec().qualifiedName() + " --help')");
            return EXIT_USAGE;
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            PrintWriter err = c.getErr();
            if (ex instanceof NodeException n) {
                err.println("migctl: " + n.getMessage());
                return n.exitCode();
            }
            err.println("migctl: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            return EXIT_FAILED;
        });
        return cl;
    }

    public static void main(String[] args) {
        dev.livemig.target.TargetNode.allowNettyNoCleanerBuffers(); // the demo runs both nodes in this JVM
        System.exit(commandLine(ChannelFactory.NETTY).execute(args));
    }
}
