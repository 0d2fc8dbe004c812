package dev.livemig.migctl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migctl.render.RoundTable;
import dev.livemig.migctl.render.Summary;
import dev.livemig.migctl.report.MigrationReport;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.RoundRecord;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * migctl against the real source node (in-process gRPC, {@link LocalNodes}) after one
 * finished hybrid migration: the plumbing from command line to stub to output, on the
 * node's own answers.
 */
class FinishedMigrationTest {
    private static final HostPort SOURCE = new HostPort("local-source", 50051);
    private static final HostPort TARGET = new HostPort("local-target", 50052);
    private static LocalNodes nodes;
    private static MigrationInfo info;

    @BeforeAll
    static void migrate() throws Exception {
        nodes = new LocalNodes();
        info = nodes.migrate(InProcessMigration.hybridGuest(), InProcessMigration.hybridParameters(),
                TARGET.toString());
    }

    @AfterAll
    static void stop() {
        nodes.close();
    }

    private static MigctlRunner.Result migctl(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.add("--source");
        all.add(SOURCE.toString());
        ChannelFactory inProcess = a -> {
            assertEquals(SOURCE, a, "migctl dials the --source address");
            return nodes.channels().open(a);
        };
        return MigctlRunner.run(inProcess, all.toArray(String[]::new));
    }

    @Test
    void infoJson_isTheServedMessage() throws Exception {
        MigctlRunner.Result r = migctl("info", "--json");
        assertEquals(0, r.exit(), r::toString);
        assertEquals(info, MigrationReport.parseJson(r.out()));
    }

    @Test
    void info_printsTheSummaryAndEveryRound() {
        MigctlRunner.Result r = migctl("info", "--migration", info.getMigrationId());
        assertEquals(0, r.exit(), r::toString);
        for (String line : Summary.lines(info)) {
            assertTrue(r.out().contains(line), line);
        }
        for (RoundRecord round : info.getRoundsList()) {
            assertTrue(r.out().contains(RoundTable.row(round)), RoundTable.row(round));
        }
    }

    @Test
    void watch_printsEveryRoundThenTheSummary_andExitsZeroForACompletedMigration() {
        MigctlRunner.Result r = migctl("watch");
        assertEquals(0, r.exit(), r::toString);
        List<String> lines = r.out().lines().toList();
        int header = lines.indexOf(RoundTable.header());
        assertTrue(header >= 0, r.out());
        List<String> rows = lines.stream().filter(l -> info.getRoundsList().stream()
                .anyMatch(x -> l.equals(RoundTable.row(x)))).toList();
        assertEquals(info.getRoundsList().stream().map(RoundTable::row).toList(), rows);
        assertTrue(r.out().endsWith(String.join(System.lineSeparator(), Summary.lines(info))
                + System.lineSeparator()), r.out());
    }

    @Test
    void report_writesTheSameFilesAsTheLibrary_andRerendersFromItsJson(@TempDir Path dir) throws Exception {
        MigctlRunner.Result r = migctl("report", "--out", dir.resolve("a").toString());
        assertEquals(0, r.exit(), r::toString);
        assertEquals(MigrationReport.html(info), Files.readString(dir.resolve("a/report.html")));
        MigctlRunner.Result again = MigctlRunner.run("report", "--from", dir.resolve("a/report.json").toString(),
                "--out", dir.resolve("b").toString());
        assertEquals(0, again.exit(), again::toString);
        assertEquals(Files.readString(dir.resolve("a/report.html")), Files.readString(dir.resolve("b/report.html")));
    }

    @Test
    void reportFromAMissingFile_isAUsageError(@TempDir Path dir) {
        MigctlRunner.Result r = MigctlRunner.run("report", "--from", dir.resolve("none.json").toString());
        assertEquals(Migctl.EXIT_USAGE, r.exit());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    @Test
    void unknownMigration_isTheNodesErrorOnOneLine() {
        MigctlRunner.Result r = migctl("info", "--migration", "nope");
        assertEquals(Migctl.EXIT_FAILED, r.exit());
        assertEquals("migctl: source node at " + SOURCE + " refused GetInfo: NOT_FOUND: no migration nope"
                + System.lineSeparator(), r.err());
    }

    @Test
    void anRpcTheNodeLacks_saysSo() {
        // the target node's port given as --source: it serves PageTransfer, not MigrationControl
        MigctlRunner.Result r = MigctlRunner.run(nodes.channels(TARGET), "guest", "info", "--source", TARGET.toString());
        assertEquals(Migctl.EXIT_FAILED, r.exit());
        assertEquals("migctl: source node at " + TARGET + " does not implement GetGuest" + System.lineSeparator(),
                r.err());
    }

    @Test
    void guestInfo_showsTheMigratedGuestStopped_withItsMigration() {
        MigctlRunner.Result r = migctl("guest", "info");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().startsWith("guest " + info.getGuestId() + ": 16.0 MiB, "), r.out());
        assertTrue(r.out().contains(", stopped, "), "after switchover the vCPUs run on the target: " + r.out());
        assertTrue(r.out().contains(", last migration " + info.getMigrationId()), r.out());
        assertTrue(r.out().contains("workload HOTSET, 20000 pages/s, 2 vCPUs, seed 7"), r.out());
    }

    @Test
    void aRoundOfAnAutomaticMigration_isRefusedWithTheCodeOnce() {
        MigctlRunner.Result r = migctl("round", "--migration", info.getMigrationId());
        assertEquals(Migctl.EXIT_FAILED, r.exit());
        assertEquals("migctl: source node at " + SOURCE + " refused RunRound: FAILED_PRECONDITION: the migration "
                + "advances on its own" + System.lineSeparator(), r.err());
    }

    @Test
    void cancellingAFinishedMigration_reportsItsStateAndFails() {
        MigctlRunner.Result r = migctl("cancel");
        assertEquals(Migctl.EXIT_FAILED, r.exit());
        assertEquals("migration " + info.getMigrationId() + ": COMPLETED" + System.lineSeparator(), r.out());
    }

    @Test
    void health_isZeroOnlyWhenServing() {
        assertEquals(0, migctl("health").exit());
        nodes.source().health().setStatus("", ServingStatus.NOT_SERVING);
        try {
            MigctlRunner.Result r = migctl("health");
            assertEquals(Migctl.EXIT_FAILED, r.exit());
            assertTrue(r.out().contains("NOT_SERVING"), r.out());
        } finally {
            nodes.source().health().setStatus("", ServingStatus.SERVING);
        }
    }
}
