package dev.livemig.migctl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migctl.render.RoundTable;
import dev.livemig.migctl.render.Summary;
import dev.livemig.migctl.report.MigrationReport;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `migctl migrate` end to end against the real source and target nodes (in-process gRPC):
 * guest created, migration started, rounds shown, summary printed, report written, exit 0.
 */
class MigrateCommandTest {
    @Test
    void migrate_createsAGuest_migratesIt_printsRoundsAndSummary_andWritesTheReport(@TempDir Path dir)
            throws Exception {
        try (LocalNodes nodes = new LocalNodes()) {
            MigctlRunner.Result r = MigctlRunner.run(nodes.channels(),
                    "migrate", "--guest-mib", "16", "--workload", "hotset", "--dirty-rate", "20000",
                    "--mode", "hybrid", "--downtime-limit-ms", "1", "--postcopy-after-rounds", "3",
                    "--bandwidth-limit-mib", "32", "--target", "target:50052",
                    "--batch-pages", "64", "--precopy-retries", "2", "--reconnect-timeout-ms", "5000",
                    "--report-dir", dir.toString());
            assertEquals(0, r.exit(), r::toString);
            MigrationInfo info = MigrationReport.parseJson(Files.readString(dir.resolve("report.json")));
            assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, info.getState());
            assertEquals("target:50052", info.getTargetAddress(), "the --target address reaches the source");
            assertEquals(64, info.getParameters().getBatchPages(), "--batch-pages reaches the source");
            assertEquals(2, info.getParameters().getPrecopyRetries(), "--precopy-retries reaches the source");
            assertEquals(5000, info.getParameters().getReconnectTimeoutMs(), "--reconnect-timeout-ms reaches the source");
            assertEquals(4096, info.getStats().getVerifiedPages(), "16 MiB of 4 KiB pages verified");
            List<String> lines = r.out().lines().toList();
            assertTrue(Pattern.matches("guest " + Pattern.quote(info.getGuestId())
                    + ": 16\\.0 MiB, HOTSET workload at 20000 pages/s, \\d+ pages populated", lines.get(0)), r.out());
            assertTrue(lines.get(1).startsWith("migration " + info.getMigrationId()
                    + ": HYBRID to target:50052, downtime limit 1 ms"), r.out());
            for (var round : info.getRoundsList()) {
                assertTrue(lines.contains(RoundTable.row(round)), () -> "missing row " + round);
            }
            for (String s : Summary.lines(info)) {
                assertTrue(lines.contains(s), s);
            }
            assertTrue(Files.exists(dir.resolve("report.html")));
        }
    }
}
