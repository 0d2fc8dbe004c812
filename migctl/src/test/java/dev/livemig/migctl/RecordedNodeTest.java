package dev.livemig.migctl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migctl.render.RoundTable;
import dev.livemig.migctl.render.Summary;
import dev.livemig.migctl.report.MigrationReport;
import dev.livemig.proto.v1.CancelRequest;
import dev.livemig.proto.v1.CancelResponse;
import dev.livemig.proto.v1.GetInfoRequest;
import dev.livemig.proto.v1.MigrationControlGrpc;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.ProgressEvent;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.StateChange;
import dev.livemig.proto.v1.WatchRequest;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * migctl against a gRPC server (in-process transport) that serves one finished migration:
 * the real MigrationInfo of an in-process engine run, on GetInfo and replayed on Watch. It
 * checks the plumbing from command line to stub to output; the nodes' own tests cover the
 * service.
 */
class RecordedNodeTest {
    private static final HostPort SOURCE = new HostPort("recorded-source", 50051);
    private static MigrationInfo info;
    private static Server server;
    private static String serverName;
    private static final HealthStatusManager HEALTH = new HealthStatusManager();

    /** Serves the recorded migration; every other RPC is UNIMPLEMENTED (the generated default). */
    private static final class Recorded extends MigrationControlGrpc.MigrationControlImplBase {
        @Override
        public void getInfo(GetInfoRequest req, StreamObserver<MigrationInfo> out) {
            if (!req.getMigrationId().isEmpty() && !req.getMigrationId().equals(info.getMigrationId())) {
                out.onError(Status.NOT_FOUND.withDescription("no migration " + req.getMigrationId()).asRuntimeException());
                return;
            }
            out.onNext(req.getOmitRounds() ? info.toBuilder().clearRounds().build() : info);
            out.onCompleted();
        }

        @Override
        public void watch(WatchRequest req, StreamObserver<ProgressEvent> out) {
            List<ProgressEvent> events = new ArrayList<>();
            for (RoundRecord r : info.getRoundsList()) {
                events.add(ProgressEvent.newBuilder().setMigrationId(info.getMigrationId())
                        .setAtMs(r.getStartMs() + r.getDurationMs()).setRound(r).build());
            }
            for (StateChange c : info.getStateChangesList()) {
                events.add(ProgressEvent.newBuilder().setMigrationId(info.getMigrationId()).setAtMs(c.getAtMs())
                        .setStateChange(c).build());
            }
            events.sort(Comparator.comparingLong(ProgressEvent::getAtMs));
            events.forEach(out::onNext);
            out.onCompleted();
        }

        @Override
        public void cancel(CancelRequest req, StreamObserver<CancelResponse> out) {
            out.onNext(CancelResponse.newBuilder().setState(info.getState()).build());
            out.onCompleted();
        }
    }

    @BeforeAll
    static void serve() throws Exception {
        info = InProcessMigration.hybrid();
        serverName = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(serverName).directExecutor().addService(new Recorded())
                .addService(HEALTH.getHealthService()).build().start();
        HEALTH.setStatus("", ServingStatus.SERVING);
    }

    @AfterAll
    static void stop() {
        server.shutdownNow();
    }

    private static MigctlRunner.Result migctl(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.add("--source");
        all.add(SOURCE.toString());
        ChannelFactory inProcess = a -> {
            assertEquals(SOURCE, a, "migctl dials the --source address");
            ManagedChannel c = InProcessChannelBuilder.forName(serverName).directExecutor().build();
            return c;
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
        MigctlRunner.Result r = migctl("guest", "info");
        assertEquals(Migctl.EXIT_FAILED, r.exit());
        assertEquals("migctl: source node at " + SOURCE + " does not implement GetGuest" + System.lineSeparator(),
                r.err());
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
        HEALTH.setStatus("", ServingStatus.NOT_SERVING);
        try {
            MigctlRunner.Result r = migctl("health");
            assertEquals(Migctl.EXIT_FAILED, r.exit());
            assertTrue(r.out().contains("NOT_SERVING"), r.out());
        } finally {
            HEALTH.setStatus("", ServingStatus.SERVING);
        }
    }
}
