package dev.livemig.migration.source;

import dev.livemig.migration.EpochClock;
import dev.livemig.migration.MigrationControl.RoundRecord;
import dev.livemig.migration.tracker.DirtyTracker;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapRequest;
import dev.livemig.migration.transport.PageTransfer.SwitchoverRequest;
import dev.livemig.migration.transport.PageTransfer.SwitchoverResponse;
import java.util.List;

/**
 * Stop-and-copy and the Switchover call of a pre-copy {@link OutgoingMigration} (QEMU's
 * migration_completion): the final pass over the paused guest, the switchover with its
 * resends, and the retries of a connection that breaks in between.
 *
 * <p>Its own class because this is where the point of no return moves back and forth: a
 * connection that breaks during the final pass or under the Switchover call is retried as
 * {@code precopy_retries} allows (the guest stays paused, the source reconnects, sends what
 * the target lacks and asks again; a target that had already resumed answers a repeated
 * Switchover with its first answer, so a lost answer is not a second guest), and a
 * switchover the target refuses for pages that failed their checksum is answered with a
 * resend of what its received bitmap lacks, during which a broken stream rolls back again.
 * The stop-and-copy round record is published once the target answered, with the fixed
 * cost the switchover really had next to the prediction it followed.
 *
 * <p>Runs under the migration's step lock, on its migration thread or a RunRound call.
 */
final class StopAndCopy {
    /** Switchovers refused for damaged pages that are answered with a resend before giving up. */
    private static final int MAX_RESEND_ATTEMPTS = 3;

    private final OutgoingMigration m;
    private final PrecopyEngine precopy;
    private final DirtyTracker tracker;
    private final PageSender sender;
    private final MigrationEvents events;
    private final SwitchoverCostMeter meter;
    /** How long the last Switchover call took: the measured round trip and resume of the switchover's cost. */
    private long switchoverCallNs;
    /** Pages sent again: lost with a broken stream after the pause, or refused for a bad crc32c. */
    private long resentPages;

    StopAndCopy(OutgoingMigration m, PrecopyEngine precopy, DirtyTracker tracker, PageSender sender,
                MigrationEvents events, SwitchoverCostMeter meter) {
        this.m = m;
        this.precopy = precopy;
        this.tracker = tracker;
        this.sender = sender;
        this.events = events;
        this.meter = meter;
    }

    long resentPages() {
        return resentPages;
    }

    /**
     * The final pass over the guest paused at {@code pauseNs}, then the Switchover until it
     * is answered. Returns the target's answer (resumed or not); throws when the connection
     * broke and could not be reconnected, or on a cancel before the point of no return.
     */
    SwitchoverResponse run(long pauseNs) {
        double pauseMs = EpochClock.millisBetween(pauseNs, EpochClock.nowNanos());
        RoundRecord last = null;
        double finalScanMs = 0;
        SwitchoverResponse resp = null;
        while (resp == null) {
            try {
                if (last == null) {
                    last = precopy.finalPass(false, "stop-and-copy");
                    finalScanMs = tracker.lastScanNs() / 1e6;
                    if (m.cancelRequested()) {
                        events.publish(last);
                        m.checkCancel();
                    }
                } else {
                    // after a reconnect: what the broken stream lost (the guest is still paused)
                    resentPages += sender.sendPages(precopy.dirty, precopy.rounds() - 1, 0, true).pages();
                    m.checkCancel();
                }
                resp = switchoverWithResends(pauseNs);
            } catch (PageSender.Cancelled e) {
                throw e;
            } catch (RuntimeException e) {
                m.setPointOfNoReturn(false); // the target has not resumed as far as we know: a failure resumes the source
                PageSender.StreamBroken broken = e instanceof PageSender.StreamBroken sb ? sb
                        : new PageSender.StreamBroken(e);
                if (!PrecopyReconnect.reconnect(m, broken)) {
                    throw e;
                }
            }
        }
        events.publish(last.withSwitchoverCost(SwitchoverCostMeter.actual(pauseMs, finalScanMs, switchoverCallNs / 1e6, resp)));
        return resp;
    }

    /** The Switchover call, answered with a resend while the target lacks pages that failed their checksum. */
    private SwitchoverResponse switchoverWithResends(long pauseNs) {
        m.setPointOfNoReturn(true);
        SwitchoverResponse resp;
        for (int attempt = 0; ; attempt++) {
            long t0 = System.nanoTime();
            resp = m.channel().switchover(new SwitchoverRequest(m.id(), precopy.rounds() - 1, sender.batchesSent(),
                    m.guest().layout(), m.guest().saveVcpus(), false, pauseNs, meter.targetClockOffsetNs()));
            switchoverCallNs = System.nanoTime() - t0;
            if (resp.resumed() || resp.missingPages() == 0 || attempt == MAX_RESEND_ATTEMPTS) {
                return resp;
            }
            m.setPointOfNoReturn(false); // the target refused to resume: a broken stream now rolls back
            resentPages += resendMissing(precopy.rounds() - 1);
            m.setPointOfNoReturn(true);
        }
    }

    /**
     * The target dropped pages that arrived damaged: sends again every page it was sent
     * that its received bitmap lacks (the guest is paused, so these are its final
     * contents). Returns how many.
     */
    private long resendMissing(int round) {
        return sender.sendPages(sender.lostOn(m.channel().receivedBitmap(new ReceivedBitmapRequest(m.id(), List.of()))),
                round, 0, true).pages();
    }
}
