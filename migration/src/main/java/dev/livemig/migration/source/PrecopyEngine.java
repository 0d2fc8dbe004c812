package dev.livemig.migration.source;

import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.RoundDecision;
import dev.livemig.migration.MigrationControl.RoundRecord;
import dev.livemig.migration.MigrationControl.SwitchoverCost;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.guest.WriteLog;
import dev.livemig.migration.stats.PageChecksums;
import dev.livemig.migration.tracker.DirtyTracker;

/**
 * Pre-copy iteration (QEMU's ram_save_iterate with migration_bitmap_sync): round 0 sends
 * every populated page, each round then harvests the pages written meanwhile, which the
 * next round sends. A round's record holds what it sent, the scan that ended it, the
 * tracker's score against the guest's write log, the bandwidth measured (and where the
 * send's time went), the dirty memory left and the downtime a switchover would now cost:
 * the final pass (finding the present pages among what is left, by the walk of their spans
 * or by lookups as {@link PassRate#method} chooses, and the dirty bytes at the rounds'
 * stream rate; {@link PassRate#predict}) plus the fixed
 * cost of a switchover, measured in the round ({@link SwitchoverCostMeter}). The stop-and-copy pass's record gets the fixed cost the
 * switchover really had from its caller, once the target answered.
 *
 * <p>The dirty bitmap is the set of pages whose latest contents the target lacks. At
 * switchover the final scan adds the last writes: pre-copy sends them all
 * (stop-and-copy), post-copy sends nothing but a discard for the stale ones and leaves
 * the set to the page server.
 */
final class PrecopyEngine {
    private final Guest guest;
    private final MigrationParameters p;
    private final DirtyTracker tracker;
    private final PageSender sender;
    private final Convergence convergence;
    private final long migrationStartNanos;
    final PageBitmap dirty;
    private WriteLog.Score score = WriteLog.Score.NONE;
    private WriteLog.Score lastScore = WriteLog.Score.NONE;
    private double bandwidthBytesPerS;
    /** The walk, lookup and stream costs the rounds measured: what a pass chooses by and the prediction uses. */
    private PassRate passRate = PassRate.UNKNOWN;
    private final SwitchoverCostMeter meter;
    private double lastPredictedMs = Double.POSITIVE_INFINITY;
    private double lastPredictedTransferMs = Double.POSITIVE_INFINITY;
    private PassRate.TransferPrediction lastPass = PassRate.TransferPrediction.NOTHING;
    private int rounds;

    PrecopyEngine(Guest guest, MigrationParameters p, DirtyTracker tracker, PageSender sender,
                  SwitchoverCostMeter meter, long migrationStartNanos) {
        this.meter = meter;
        this.guest = guest;
        this.p = p;
        this.tracker = tracker;
        this.sender = sender;
        this.convergence = new Convergence(p);
        this.migrationStartNanos = migrationStartNanos;
        this.dirty = new PageBitmap(guest.layout().pages());
    }

    /** Arms the tracker (part of SETUP) and marks every populated page dirty. */
    void setup() {
        guest.writeLog().mark(tracker::start);
        boolean[] present = PageChecksums.presentPages(guest.mm(), guest.layout());
        for (int i = 0; i < present.length; i++) {
            if (present[i]) {
                dirty.set(i);
            }
        }
    }

    /** Harvests the tracker into {@link #dirty} and scores it; returns the pages it reported. */
    private long scan() {
        PageBitmap reported = new PageBitmap(dirty.size());
        PageBitmap truth = guest.writeLog().mark(() -> tracker.collect(reported));
        WriteLog.Score s = WriteLog.Score.of(reported, truth);
        score = score.plus(s);
        lastScore = s;
        dirty.or(reported);
        return reported.cardinality();
    }

    /** One round: send the dirty set, scan, decide. */
    RoundRecord round() {
        int round = rounds++;
        long t0 = System.nanoTime();
        int throttle = convergence.throttlePercent();
        long dirtyPages = dirty.cardinality();
        sender.resetPacing();
        PageSender.Transfer tr = send(round);
        if (tr.bytes() > 0 && tr.nanos() > 0) {
            bandwidthBytesPerS = tr.bytes() * 1e9 / tr.nanos();
        }
        passRate = passRate.after(tr.bytes(), tr.nanos(), tr.walkNanos(), tr.walkedSpans(), tr.lookupNanos(),
                tr.lookupNanosPerPage(), guest.throttlePercent(), guest.dirtyLimitPagesPerS());
        // right behind the round's last batch, as the Switchover call would follow the final pass
        SwitchoverCostMeter.Sample sync = meter.sync(sender.batchesSent(), true);
        scan();
        long remaining = dirty.cardinality();
        long duration = System.nanoTime() - t0;
        SwitchoverCost fixed = meter.estimate(tracker.lastScanNs() / 1e6, sync);
        // the final pass walks the spans of what is left (or looks its pages up), not a share of this round's walk
        PassRate.TransferPrediction pass = passRate.predict(guest.layout().bytesOf(dirty), remaining,
                PageChecksums.spansOf(guest.layout(), dirty));
        double transfer = pass.totalMs();
        double predicted = Convergence.predictDowntimeMs(pass, fixed);
        lastPredictedMs = predicted;
        lastPredictedTransferMs = transfer;
        lastPass = pass;
        Convergence.Decision d = convergence.decide(round, remaining, predicted);
        if (d.decision() == RoundDecision.THROTTLE) {
            guest.setThrottlePercent(d.throttlePercent());
            guest.setDirtyLimitPagesPerS(d.dirtyLimitPagesPerS());
        }
        return new RoundRecord(round, ms(t0 - migrationStartNanos), ms(duration), tracker.lastScanNs(), dirtyPages,
                tr.pages(), tr.zeroPages(), tr.bytes(), (long) bandwidthBytesPerS,
                remaining * 1e9 / Math.max(1, duration), remaining, predicted, d.decision(), d.reason(), throttle,
                lastScore.truePositivePages(), lastScore.falsePositivePages(), lastScore.falseNegativePages(),
                transfer, fixed, tr.profile(), pass.walkMs(), pass.lookupMs(), pass.streamBytesPerS());
    }

    /**
     * Sends the dirty set as round {@code round}, finding its present pages the way the
     * measured costs make cheaper for its pages and spans (the choice the prediction of
     * this pass made, on the set as it is now); a walking round also samples the lookups.
     */
    private PageSender.Transfer send(int round) {
        PageChecksums.PresentMethod how = passRate.method(dirty.cardinality(), PageChecksums.spansOf(guest.layout(), dirty));
        return sender.sendPages(dirty, round, 0, true, how, true);
    }

    /**
     * The pass after the guest stopped: the final scan, then either every dirty page
     * (stop-and-copy) or, for post-copy, a discard of the stale ones.
     */
    RoundRecord finalPass(boolean postcopy, String reason) {
        int round = rounds++;
        long t0 = System.nanoTime();
        scan();
        long dirtyPages = dirty.cardinality();
        PageSender.Transfer tr;
        long remaining;
        if (postcopy) {
            PageBitmap stale = dirty.and(sender.sentOnce);
            sender.sendDiscards(stale, round);
            sender.flush(true);
            tr = PageSender.Transfer.none(System.nanoTime() - t0);
            remaining = dirtyPages;
        } else {
            sender.resetPacing();
            tr = send(round);
            remaining = 0;
        }
        long duration = System.nanoTime() - t0;
        return new RoundRecord(round, ms(t0 - migrationStartNanos), ms(duration), tracker.lastScanNs(), dirtyPages,
                tr.pages(), tr.zeroPages(), tr.bytes(),
                tr.nanos() > 0 && tr.bytes() > 0 ? (long) (tr.bytes() * 1e9 / tr.nanos()) : 0,
                0, remaining, lastPredictedMs, postcopy ? RoundDecision.POSTCOPY : RoundDecision.SWITCHOVER,
                reason, guest.throttlePercent(), lastScore.truePositivePages(), lastScore.falsePositivePages(),
                lastScore.falseNegativePages(), lastPredictedTransferMs, SwitchoverCost.NONE, tr.profile(),
                lastPass.walkMs(), lastPass.lookupMs(), lastPass.streamBytesPerS());
    }

    void updateParameters(MigrationParameters next) {
        convergence.update(next);
    }

    WriteLog.Score score() {
        return score;
    }

    double lastPredictedMs() {
        return lastPredictedMs;
    }

    int rounds() {
        return rounds;
    }

    private static long ms(long nanos) {
        return nanos / 1_000_000;
    }
}
