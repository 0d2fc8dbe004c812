package dev.livemig.migctl;

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
 * {@link DemoNodes}, then runs the same flow as {@code migctl migrate} against them and
 * writes the report.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Starts a target and a source node on loopback, creates a guest with a running workload, "
                + "migrates it live and writes a report (JSON + HTML charts)."})
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    GuestOptions guest;
    @Mixin
    ParameterOptions parameters;
    @Option(names = "--report-dir", paramLabel = "DIR", defaultValue = "livemig-report",
            description = "Where report.json and report.html go (default: ${DEFAULT-VALUE}).")
    Path reportDir;

    @Override
    public Integer call() throws Exception {
        Optional<DemoNodes> nodes = DemoNodes.find();
        if (nodes.isEmpty()) {
            spec.commandLine().getErr().println("migctl demo: this build has no embedded nodes (no DemoNodes "
                    + "implementation on the classpath); start source-node and target-node and use 'migctl migrate'");
            return Migctl.EXIT_FAILED;
        }
        Migctl root = (Migctl) spec.root().userObject();
        try (DemoNodes.Running running = nodes.get().start();
             NodeClient source = new NodeClient("source", running.source(), root.channels().open(running.source()))) {
            return MigrationRun.run(source, new MigrationRun.Plan("", guest.toSpec(), running.target(),
                    parameters.toProto(), reportDir, false), spec.commandLine().getOut());
        }
    }
}
