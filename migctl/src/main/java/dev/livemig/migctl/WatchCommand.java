package dev.livemig.migctl;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code migctl watch}: the live per-round table and progress bar of a running migration. */
@Command(name = "watch", mixinStandardHelpOptions = true,
        description = "Follows a migration: a row per round (dirty pages, sent, bandwidth, dirty rate, predicted "
                + "downtime, decision), state changes and a progress bar, then the summary.")
final class WatchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    NodeOptions node;
    @Mixin
    MigrationOption migration;

    @Override
    public Integer call() {
        try (NodeClient source = node.source()) {
            String id = migration.resolve(source);
            MigrationRun.watch(source, id, spec.commandLine().getOut());
            return MigrationRun.finish(source, id, null, spec.commandLine().getOut());
        }
    }
}
