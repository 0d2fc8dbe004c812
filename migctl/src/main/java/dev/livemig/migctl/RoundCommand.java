package dev.livemig.migctl;

import dev.livemig.migctl.render.RoundTable;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.RunRoundRequest;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code migctl round}: one pre-copy round of a migration started with --manual-rounds. */
@Command(name = "round", mixinStandardHelpOptions = true,
        description = "Runs one pre-copy round of a migration started with --manual-rounds and prints its record.")
final class RoundCommand implements Runnable {
    @Spec
    CommandSpec spec;
    @Mixin
    NodeOptions node;
    @Option(names = "--migration", paramLabel = "ID", required = true, description = "Migration id.")
    String migrationId;

    @Override
    public void run() {
        try (NodeClient source = node.source()) {
            RoundRecord r = source.call("RunRound",
                    s -> s.runRound(RunRoundRequest.newBuilder().setMigrationId(migrationId).build()));
            PrintWriter out = spec.commandLine().getOut();
            out.println(RoundTable.header());
            out.println(RoundTable.row(r));
        }
    }
}
