package dev.livemig.migctl;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code migctl migrate}: one migration from the source node to a target node, watched to the end. */
@Command(name = "migrate", mixinStandardHelpOptions = true,
        description = {"Migrates a guest from the source node to the target node, shows every round and a "
                + "progress bar, then the summary.",
                "Without --guest, first creates a guest from the guest options."})
final class MigrateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    NodeOptions node;
    @Mixin
    GuestOptions guest;
    @Mixin
    ParameterOptions parameters;

    @Option(names = "--target", paramLabel = "HOST:PORT", defaultValue = NodeOptions.DEFAULT_TARGET,
            converter = HostPort.Converter.class,
            description = "The target node's PageTransfer service, as the source node reaches it "
                    + "(default: ${DEFAULT-VALUE}).")
    HostPort target;

    @Option(names = "--guest", paramLabel = "ID", defaultValue = "",
            description = "Migrate this existing guest instead of creating one.")
    String guestId;

    @Option(names = "--report-dir", paramLabel = "DIR",
            description = "Write report.json and report.html here when the migration ends.")
    Path reportDir;

    @Option(names = "--detach", description = "Return once the migration has started.")
    boolean detach;

    @Override
    public Integer call() {
        try (NodeClient source = node.source()) {
            return MigrationRun.run(source, new MigrationRun.Plan(guestId, guest.toSpec(), target,
                    parameters.toProto(), reportDir, detach), spec.commandLine().getOut());
        }
    }
}
