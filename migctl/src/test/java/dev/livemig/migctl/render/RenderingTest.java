package dev.livemig.migctl.render;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migctl.InProcessMigration;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.ProgressEvent;
import dev.livemig.proto.v1.RoundRecord;
import dev.livemig.proto.v1.StateChange;
import dev.livemig.proto.v1.TransferProgress;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The terminal views, fed with the round records and stats of a real in-process migration. */
class RenderingTest {
    private static MigrationInfo info;

    @BeforeAll
    static void migrate() throws Exception {
        info = InProcessMigration.hybrid();
    }

    @Test
    void roundTable_rowShowsEveryColumnOfItsRecord() {
        String header = RoundTable.header();
        for (String col : List.of("round", "dirty pages", "sent pages", "bandwidth", "dirty rate", "predicted",
                "fixed cost", "decision")) {
            assertTrue(header.contains(col), col);
        }
        for (RoundRecord r : info.getRoundsList()) {
            String row = RoundTable.row(r);
            List<String> cells = List.of(row.trim().split("\\s{2,}"));
            assertEquals(String.valueOf(r.getRound()), cells.get(0), row);
            assertEquals(String.valueOf(r.getDirtyPages()), cells.get(1), row);
            assertEquals(String.valueOf(r.getSentPages()), cells.get(2), row);
            assertEquals(Units.rate(r.getBandwidthBytesPerS()), cells.get(3), row);
            assertEquals(Units.f("%.0f pages/s", r.getDirtyRatePagesPerS()), cells.get(4), row);
            assertEquals(Units.ms(r.getPredictedDowntimeMs()), cells.get(5), row);
            assertEquals(Units.ms(r.getSwitchoverCost().getTotalMs()), cells.get(6), row);
            assertEquals(r.getDecision().name().replace("ROUND_DECISION_", ""), cells.get(7), row);
            assertTrue(row.endsWith(r.getReason()), row);
        }
    }

    @Test
    void watchPrinter_printsOneRowPerRoundInOrder_andRemembersTheFinalState() {
        List<ProgressEvent> events = new ArrayList<>();
        for (RoundRecord r : info.getRoundsList()) {
            events.add(ProgressEvent.newBuilder().setAtMs(r.getStartMs() + r.getDurationMs()).setRound(r).build());
        }
        for (StateChange c : info.getStateChangesList()) {
            events.add(ProgressEvent.newBuilder().setAtMs(c.getAtMs()).setStateChange(c).build());
        }
        events.sort(Comparator.comparingLong(ProgressEvent::getAtMs));
        StringWriter sw = new StringWriter();
        WatchPrinter p = new WatchPrinter(new PrintWriter(sw), false);
        events.forEach(p::accept);
        p.finish();
        List<String> lines = sw.toString().lines().toList();
        assertEquals(1, lines.stream().filter(l -> l.equals(RoundTable.header())).count(), sw::toString);
        List<String> rows = lines.stream().filter(l -> !l.startsWith("--") && !l.equals(RoundTable.header())).toList();
        assertEquals(info.getRoundsList().stream().map(RoundTable::row).toList(), rows);
        assertEquals(info.getStateChangesCount(), lines.stream().filter(l -> l.startsWith("--")).count());
        assertEquals(info.getState(), p.finalState());
        assertEquals(MigrationState.MIGRATION_STATE_COMPLETED, p.finalState());
        assertTrue(!sw.toString().contains("\r"), "no carriage returns when not on a terminal");
    }

    @Test
    void liveWatchPrinter_redrawsTheBarInPlace_andClearsItBeforeARow() {
        RoundRecord r0 = info.getRounds(0);
        long half = r0.getSentPages() / 2;
        StringWriter sw = new StringWriter();
        WatchPrinter p = new WatchPrinter(new PrintWriter(sw), true);
        TransferProgress progress = TransferProgress.newBuilder().setRound(0)
                .setState(MigrationState.MIGRATION_STATE_ACTIVE).setRoundSentPages(half)
                .setRoundRemainingPages(r0.getSentPages() - half).setTotalSentPages(half)
                .setTotalBytesSent(half * 4096).setBandwidthBytesPerS(r0.getBandwidthBytesPerS()).build();
        p.accept(ProgressEvent.newBuilder().setProgress(progress).build());
        String bar = p.progressLine(progress);
        assertTrue(bar.contains(ProgressBar.render(half, r0.getSentPages(), WatchPrinter.BAR_WIDTH)), bar);
        assertTrue(bar.contains(half + "/" + r0.getSentPages() + " pages"), bar);
        assertEquals("\r" + bar, sw.toString());
        p.accept(ProgressEvent.newBuilder().setRound(r0).build());
        assertTrue(sw.toString().endsWith("\r" + " ".repeat(bar.length()) + "\r" + RoundTable.header()
                + System.lineSeparator() + RoundTable.row(r0) + System.lineSeparator()), sw::toString);
    }

    @Test
    void progressBar_fillsInProportion() {
        assertEquals("[..........]   0%", ProgressBar.render(0, 10, 10));
        assertEquals("[#####.....]  50%", ProgressBar.render(5, 10, 10));
        assertEquals("[##########] 100%", ProgressBar.render(10, 10, 10));
        assertEquals("[##########] 100%", ProgressBar.render(0, 0, 10), "nothing to send is done");
        assertEquals("[##########] 100%", ProgressBar.render(12, 10, 10), "clamped");
        assertEquals("[#.........]  19%", ProgressBar.render(199, 1000, 10), "rounds down, never early");
    }

    @Test
    void summary_reportsModeTimesDowntimeVerificationAndTrackerMisses() {
        String s = String.join("\n", Summary.lines(info));
        var st = info.getStats();
        assertTrue(s.contains(": COMPLETED"), s);
        assertTrue(s.contains("mode               HYBRID"), s);
        assertTrue(s.contains("total time         " + st.getTotalMs() + " ms"), s);
        assertTrue(s.contains("target " + Units.ms(st.getDowntimeTargetMs())), s);
        assertTrue(s.contains("predicted " + Units.ms(st.getPredictedDowntimeMs())), s);
        assertTrue(s.contains("pages verified     " + st.getVerifiedPages() + ", mismatched 0"), s);
        assertTrue(s.contains("tracker misses     0"), s);
        assertTrue(s.contains("post-copy faults   " + st.getPostcopyFaults()), s);
    }
}
