package dev.livemig.migctl;

import dev.livemig.migctl.render.RoundTable;
import dev.livemig.migctl.render.Summary;
import dev.livemig.migctl.report.MigrationReport;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.RoundRecord;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code migctl info}: state, statistics and rounds of a migration. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Shows a migration's state, statistics and round records.")
final class InfoCommand implements Runnable {
    @Spec
    CommandSpec spec;
    @Mixin
    NodeOptions node;
    @Mixin
    MigrationOption migration;
    @Option(names = "--json", description = "Print the MigrationInfo message as JSON, every field included.")
    boolean json;
    @Option(names = "--omit-rounds", description = "Leave out the round records.")
    boolean omitRounds;

    @Override
    public void run() {
        try (NodeClient source = node.source()) {
            MigrationInfo info = source.call("GetInfo", s -> s.getInfo(GetInfoRequest.newBuilder()
                    .setMigrationId(migration.id).setOmitRounds(omitRounds).build()));
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(MigrationReport.json(info));
                return;
            }
            Summary.lines(info).forEach(out::println);
            if (info.getRoundsCount() > 0) {
                out.println();
                out.println(RoundTable.header());
                for (RoundRecord r : info.getRoundsList()) {
                    out.println(RoundTable.row(r));
                }
            }
        }
    }
}
