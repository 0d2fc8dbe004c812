package dev.livemig.target.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;
import dev.livemig.mm.Kernel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The calls of one multifd group fail together, and with the same reason. */
class MultifdGroupTest {
    private static PageBatch batch(long seq) {
        return new PageBatch("m", 0, seq, 4096, new long[0], new int[0], new int[0], new byte[0], false, 0, 0);
    }

    /** The sinks of the two calls of one multifd group. */
    private static List<MessageSink<PageBatch>> twoCalls(IncomingMigration m) {
        MultifdGroup g = new MultifdGroup("grp", 2, () -> { });
        return List.of(g.join(m, MessageSink.<PushPagesAck>discarding()),
                g.join(m, MessageSink.<PushPagesAck>discarding()));
    }

    /**
     * Regression: a call that sent after another call's batch was refused failed with
     * CANCELLED, and when that reached the source first the source took the refusal for a
     * broken connection and reconnected (AbstractMigrationFaultsTest's malformed-batch case
     * failed now and then over multifd under load).
     */
    @Test
    void aRefusalOnOneCallIsTheRefusalOfEveryCall() {
        try (Kernel k = new Kernel()) {
            IncomingMigration m = new IncomingMigration(k);
            List<MessageSink<PageBatch>> calls = twoCalls(m);
            MessageSink<PageBatch> first = calls.get(0);
            MessageSink<PageBatch> second = calls.get(1);
            first.onError(new IllegalArgumentException("address 0x0 is outside the guest"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> second.onNext(batch(1)));
            assertEquals("address 0x0 is outside the guest", e.getMessage());
            m.close();
        }
    }

    @Test
    void aBrokenCallCancelsTheOthers() {
        try (Kernel k = new Kernel()) {
            IncomingMigration m = new IncomingMigration(k);
            List<MessageSink<PageBatch>> calls = twoCalls(m);
            MessageSink<PageBatch> first = calls.get(0);
            MessageSink<PageBatch> second = calls.get(1);
            first.onError(Status.UNAVAILABLE.asRuntimeException());
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> second.onNext(batch(1)));
            assertEquals(Status.Code.CANCELLED, e.getStatus().getCode());
            m.close();
        }
    }
}
