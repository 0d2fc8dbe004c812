package dev.livemig.migctl;

import dev.livemig.migctl.render.Units;
import dev.livemig.proto.v1.CancelRequest;
import dev.livemig.proto.v1.CancelResponse;
import dev.livemig.proto.v1.MigrationState;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code migctl cancel}: the guest keeps running on the source. */
@Command(name = "cancel", mixinStandardHelpOptions = true,
        description = "Cancels a migration; the guest keeps running on the source (refused in post-copy).")
final class CancelCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    NodeOptions node;
    @Mixin
    MigrationOption migration;
    @Option(names = "--reason", defaultValue = "cancelled with migctl", description = "Recorded in the state change.")
    String reason;

    @Override
    public Integer call() {
        try (NodeClient source = node.source()) {
            String id = migration.resolve(source);
            CancelResponse r = source.call("Cancel",
                    s -> s.cancel(CancelRequest.newBuilder().setMigrationId(id).setReason(reason).build()));
            spec.commandLine().getOut().println("migration " + id + ": "
                    + Units.enumName(r.getState(), "MIGRATION_STATE_"));
            return r.getState() == MigrationState.MIGRATION_STATE_CANCELLED ? Migctl.EXIT_OK : Migctl.EXIT_FAILED;
        }
    }
}
