package dev.livemig.migctl.render;

import static dev.livemig.migctl.render.Units.f;

import dev.livemig.proto.v1.MigrationState;
import dev.livemig.proto.v1.ProgressEvent;
import dev.livemig.proto.v1.StateChange;
import dev.livemig.proto.v1.TransferProgress;
import java.io.PrintWriter;

/**
 * Turns a Watch stream into the live view: one table row per round record, one line per
 * state change and, on a terminal, a progress bar redrawn in place on the last line.
 */
public final class WatchPrinter {
    static final int BAR_WIDTH = 30;

    private final PrintWriter out;
    private final boolean live;
    private boolean headerPrinted;
    private int barLength;
    private long postcopyMissingMax;
    private MigrationState finalState = MigrationState.MIGRATION_STATE_UNSPECIFIED;

    /** {@code live}: redraw the progress bar with carriage returns (only on a terminal). */
    public WatchPrinter(PrintWriter out, boolean live) {
        this.out = out;
        this.live = live;
    }

    public void accept(ProgressEvent e) {
        switch (e.getEventCase()) {
            case ROUND -> {
                clearBar();
                if (!headerPrinted) {
                    out.println(RoundTable.header());
                    headerPrinted = true;
                }
                out.println(RoundTable.row(e.getRound()));
            }
            case STATE_CHANGE -> {
                clearBar();
                StateChange c = e.getStateChange();
                out.println(f("-- %6d ms  %s -> %s%s", c.getAtMs(), Units.enumName(c.getFromState(), "MIGRATION_STATE_"),
                        Units.enumName(c.getToState(), "MIGRATION_STATE_"),
                        c.getReason().isEmpty() ? "" : ": " + c.getReason()));
                if (isFinal(c.getToState())) {
                    finalState = c.getToState();
                }
            }
            case PROGRESS -> {
                if (live) {
                    String bar = progressLine(e.getProgress());
                    out.print("\r" + bar + " ".repeat(Math.max(0, barLength - bar.length())));
                    barLength = bar.length();
                }
            }
            default -> {
            }
        }
        out.flush();
    }

    /** The progress line: the current round's pages, or in post-copy the pages still missing. */
    public String progressLine(TransferProgress p) {
        if (p.getState() == MigrationState.MIGRATION_STATE_POSTCOPY_ACTIVE) {
            postcopyMissingMax = Math.max(postcopyMissingMax, p.getPostcopyMissingPages());
            return f("post-copy %s %d pages missing, %d faults, %s", ProgressBar.render(
                            postcopyMissingMax - p.getPostcopyMissingPages(), postcopyMissingMax, BAR_WIDTH),
                    p.getPostcopyMissingPages(), p.getPostcopyFaults(), Units.rate(p.getBandwidthBytesPerS()));
        }
        long roundTotal = p.getRoundSentPages() + p.getRoundRemainingPages();
        return f("round %d %s %d/%d pages, %s sent, %s", p.getRound(),
                ProgressBar.render(p.getRoundSentPages(), roundTotal, BAR_WIDTH), p.getRoundSentPages(), roundTotal,
                Units.bytes(p.getTotalBytesSent()), Units.rate(p.getBandwidthBytesPerS()));
    }

    /** The final state seen in the stream, or UNSPECIFIED if it ended before one. */
    public MigrationState finalState() {
        return finalState;
    }

    public void finish() {
        clearBar();
        out.flush();
    }

    private void clearBar() {
        if (barLength > 0) {
            out.print("\r" + " ".repeat(barLength) + "\r");
            barLength = 0;
        }
    }

    public static boolean isFinal(MigrationState s) {
        return s == MigrationState.MIGRATION_STATE_COMPLETED || s == MigrationState.MIGRATION_STATE_FAILED
                || s == MigrationState.MIGRATION_STATE_CANCELLED;
    }
}
