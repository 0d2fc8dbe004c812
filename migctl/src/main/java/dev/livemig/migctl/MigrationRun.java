package dev.livemig.migctl;

import dev.livemig.migctl.render.Summary;
import dev.livemig.migctl.render.Units;
import dev.livemig.migctl.render.WatchPrinter;
import dev.livemig.migctl.report.MigrationReport;
import dev.livemig.proto.v1.CreateGuestRequest;
import dev.livemig.proto.v1.CreateGuestResponse;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.StartMigrationRequest;
import dev.livemig.proto.v1.StartMigrationResponse;
import dev.livemig.proto.v1.WatchRequest;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * The flow shared by {@code migctl migrate} and {@code migctl demo}: create a guest (unless
 * one is given), start the migration, watch it round by round, then print the summary and
 * write the report.
 */
final class MigrationRun {
    static final int PROGRESS_INTERVAL_MS = 250;

    private MigrationRun() {
    }

    /** Options of one run; {@code guestId} empty: create a guest from {@code spec}. */
    record Plan(String guestId, GuestSpec spec, HostPort target, MigrationParameters parameters, Path reportDir,
                boolean detach) {
    }

    /** Runs {@code plan} against {@code source}; returns the exit code (0 only if COMPLETED). */
    static int run(NodeClient source, Plan plan, PrintWriter out) {
        String guestId = plan.guestId();
        if (guestId.isEmpty()) {
            CreateGuestResponse g = source.call("CreateGuest",
                    s -> s.createGuest(CreateGuestRequest.newBuilder().setSpec(plan.spec()).build()));
            guestId = g.getGuestId();
            out.println(Units.f("guest %s: %s, %s workload at %d pages/s, %d pages populated", guestId,
                    Units.bytes(g.getSizeBytes()), Units.enumName(plan.spec().getWorkload(), "WORKLOAD_"),
                    plan.spec().getWriteRatePagesPerS(), g.getPopulatedPages()));
        }
        StartMigrationRequest req = StartMigrationRequest.newBuilder().setGuestId(guestId)
                .setTargetAddress(plan.target().toString()).setParameters(plan.parameters()).build();
        StartMigrationResponse started = source.call("StartMigration", s -> s.startMigration(req));
        MigrationParameters p = started.getParameters();
        out.println(Units.f("migration %s: %s to %s, downtime limit %d ms", started.getMigrationId(),
                Units.enumName(p.getMode(), "MIGRATION_MODE_"), plan.target(), p.getDowntimeLimitMs()));
        out.flush();
        if (plan.detach() || p.getManualRounds()) {
            out.println(p.getManualRounds()
                    ? "manual rounds: advance with 'migctl round --migration " + started.getMigrationId() + "'"
                    : "follow it with 'migctl watch --migration " + started.getMigrationId() + "'");
            return Migctl.EXIT_OK;
        }
        watch(source, started.getMigrationId(), out);
        return finish(source, started.getMigrationId(), plan.reportDir(), out);
    }

    /** Streams a migration's progress to {@code out} until its final state. */
    static MigrationState watch(NodeClient source, String migrationId, PrintWriter out) {
        WatchPrinter printer = new WatchPrinter(out, System.console() != null);
        WatchRequest req = WatchRequest.newBuilder().setMigrationId(migrationId).setIncludeHistory(true)
                .setProgressIntervalMs(PROGRESS_INTERVAL_MS).build();
        try {
            source.stream("Watch", s -> s.watch(req), printer::accept);
        } finally {
            printer.finish();
        }
        return printer.finalState();
    }

    /** Prints the summary, writes the report if asked; 0 if the migration COMPLETED. */
    static int finish(NodeClient source, String migrationId, Path reportDir, PrintWriter out) {
        MigrationInfo info = source.call("GetInfo",
                s -> s.getInfo(GetInfoRequest.newBuilder().setMigrationId(migrationId).build()));
        Summary.lines(info).forEach(out::println);
        if (reportDir != null) {
            try {
                Path html = MigrationReport.write(reportDir, info);
                out.println("report: " + html.toAbsolutePath() + " (and " + MigrationReport.JSON_FILE + ")");
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the report to " + reportDir + ": " + e.getMessage(), e);
            }
        }
        return info.getState() == MigrationState.MIGRATION_STATE_COMPLETED ? Migctl.EXIT_OK : Migctl.EXIT_FAILED;
    }
}
