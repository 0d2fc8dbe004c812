package dev.livemig.migctl;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code migctl demo}: everything on one machine. Starts a target and a source node through
 * {@link DemoNodes} (two child JVMs on loopback), then runs the same flow as
 * {@code migctl migrate} against them, writes the report and stops both nodes.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Starts a target and a source node on loopback (two processes, gRPC over TCP), creates a "
                + "guest with a running workload, migrates it live, writes a report (JSON + HTML charts) and "
                + "stops both nodes."})
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    GuestOptions guest;
    @Mixin
    ParameterOptions parameters;
    @Option(names = "--report-dir", paramLabel = "DIR", defaultValue = "migctl-report",
            description = "Where report.json and report.html go (default: ./${DEFAULT-VALUE}).")
    Path reportDir;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Optional<DemoNodes> nodes = DemoNodes.find();
        if (nodes.isEmpty()) {
            spec.commandLine().getErr().println("migctl demo: this build has no embedded nodes (no DemoNodes "
                    + "implementation on the classpath); start source-node and target-node and use 'migctl migrate'");
            return Migctl.EXIT_FAILED;
        }
        Migctl root = (Migctl) spec.root().userObject();
        try (DemoNodes.Running running = nodes.get().start(out);
             NodeClient source = new NodeClient("source", running.source(), root.channels().open(running.source()))) {
            return MigrationRun.run(source, new MigrationRun.Plan("", guest.toSpec(), running.target(),
                    parameters.toProto(), reportDir, false), out);
        }
    }
}
