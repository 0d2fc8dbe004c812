package dev.livemig.migration.source;

import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageChannel;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapRequest;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapResponse;
import java.util.List;

/**
 * A pre-copy page stream that broke, reconnected (precopy_retries). QEMU fails a pre-copy
 * whose connection drops and starts over; this follows its postcopy-recover handshake
 * instead, since the target still holds every page it placed: the source dials the target
 * again, reads its received bitmap and the batches it placed, opens a new page stream, and
 * puts every page lost on the way (sent in a batch the target never placed, or dropped for
 * a bad checksum) back into the dirty set, so the next round sends it with the rest.
 *
 * <p>A stream the target ended by refusing a batch (malformed: a page outside the guest, a
 * wrong size, data not matching its pages) is not a broken connection: the target has
 * dropped the migration, and the same batch over a new connection would be refused again.
 * As QEMU fails a migration whose destination reports a load error (only a network error
 * pauses a post-copy for recovery), that fails at once with the target's reason and no
 * attempt is spent on it.
 *
 * <p>Attempts back off (100 ms, doubling to 1.6 s) and stop after {@code precopy_retries}
 * or {@code reconnect_timeout_ms}, the time the target keeps the half-received guest.
 */
final class PrecopyReconnect {
    private PrecopyReconnect() {
    }

    /**
     * Returns false without retries configured; true once reconnected. Throws when every
     * attempt failed (the migration then fails and rolls back as for any broken stream).
     */
    static boolean reconnect(OutgoingMigration m, PageSender.StreamBroken broken) {
        if (PageTransfer.isRefusal(broken.getCause())) {
            throw new IllegalStateException("the target refused a page batch: " + refusalReason(broken.getCause()),
                    broken);
        }
        MigrationParameters p = m.parameters();
        int retries = p.precopyRetries();
        if (retries <= 0) {
            return false;
        }
        long deadline = System.currentTimeMillis() + p.reconnectTimeoutMs();
        RuntimeException last = broken;
        int attempt = 0;
        while (attempt < retries) {
            if (m.cancelRequested()) {
                throw new PageSender.Cancelled();
            }
            if (attempt > 0 && !backOff(attempt, deadline)) {
                break;
            }
            attempt++;
            PageChannel ch = null;
            try {
                ch = m.redialChannel();
                ReceivedBitmapResponse rb = ch.receivedBitmap(new ReceivedBitmapRequest(m.id(), List.of()));
                PageBitmap lost = m.sender().lostOn(rb);
                AckWaiter ack = new AckWaiter();
                MessageSink<PageBatch> stream = ch.pushPages(ack);
                m.reattachPrecopy(ch, ack, stream, lost, "attempt " + attempt + " of " + retries + ", after "
                        + broken.getMessage());
                return true;
            } catch (PageSender.Cancelled e) {
                throw e;
            } catch (RuntimeException e) {
                last = e;
            }
        }
        throw new IllegalStateException(broken.getMessage() + "; " + attempt + " reconnect attempts failed, the last: "
                + last, last);
    }

    private static String refusalReason(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof PageTransfer.Refused || c instanceof IllegalArgumentException) {
                return c.getMessage();
            }
        }
        return String.valueOf(t);
    }

    /** Waits before attempt {@code n + 1}; false if the reconnect timeout is over. */
    private static boolean backOff(int n, long deadline) {
        long wait = Math.min(100L << Math.min(n - 1, 4), deadline - System.currentTimeMillis());
        if (wait <= 0) {
            return false;
        }
        try {
            Thread.sleep(wait);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        return System.currentTimeMillis() < deadline;
    }
}
