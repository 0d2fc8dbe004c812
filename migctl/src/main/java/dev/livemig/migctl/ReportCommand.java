package dev.livemig.migctl;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.livemig.migctl.report.MigrationReport;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.MigrationInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code migctl report}: report.json and report.html for a migration, from a node or a saved JSON. */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = {"Writes report.json (every statistic) and report.html (charts, self-contained) for a "
                + "migration, fetched from the source node or re-rendered from a saved report.json."})
final class ReportCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    NodeOptions node;
    @Mixin
    MigrationOption migration;
    @Option(names = "--from", paramLabel = "REPORT_JSON",
            description = "Render this report.json instead of asking the node.")
    Path from;
    @Option(names = "--out", paramLabel = "DIR", defaultValue = "livemig-report",
            description = "Output directory (default: ${DEFAULT-VALUE}).")
    Path out;

    @Override
    public Integer call() throws IOException {
        MigrationInfo info;
        if (from != null) {
            if (!Files.isReadable(from)) {
                throw new ParameterException(spec.commandLine(), "cannot read " + from);
            }
            try {
                info = MigrationReport.parseJson(Files.readString(from));
            } catch (InvalidProtocolBufferException e) {
                throw new ParameterException(spec.commandLine(), from + " is not a MigrationInfo JSON: "
                        + e.getMessage());
            }
        } else {
            try (NodeClient source = node.source()) {
                info = source.call("GetInfo",
                        s -> s.getInfo(GetInfoRequest.newBuilder().setMigrationId(migration.id).build()));
            }
        }
        Path html = MigrationReport.write(out, info);
        spec.commandLine().getOut().println("report: " + html.toAbsolutePath() + " (and "
                + MigrationReport.JSON_FILE + ")");
        return Migctl.EXIT_OK;
    }
}
