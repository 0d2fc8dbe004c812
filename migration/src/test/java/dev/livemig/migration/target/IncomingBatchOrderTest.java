package dev.livemig.migration.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.HandshakeRequest;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;
import dev.livemig.migration.transport.PageTransfer.SwitchoverResponse;
import dev.livemig.mm.Kernel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The target's page stream against duplicated, overtaken and damaged batches. */
class IncomingBatchOrderTest {
    private static final long BASE = 0x7f00_0000_0000L;
    private final Kernel kernel = new Kernel(new Kernel.Config());
    private final IncomingMigration target = new IncomingMigration(kernel);
    private MessageSink<PageBatch> stream;

    @BeforeEach
    void open() {
        GuestLayout layout = new GuestLayout(1 << 20,
                List.of(new RegionLayout("anon", RegionKind.ANON, BASE, 1 << 20, 4096)), 1);
        assertTrue(target.handshake(new HandshakeRequest(PageTransfer.PROTOCOL_VERSION, "m", MigrationMode.PRECOPY,
                layout, List.of())).accepted());
        stream = target.pushPages(MessageSink.discarding());
    }

    @AfterEach
    void close() {
        target.close();
        kernel.close();
    }

    private static PageBatch batch(long seq, long addr, long word0, boolean damaged) {
        byte[] data = new byte[4096];
        ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).putLong(0, word0);
        int crc = PageTransfer.crc32c(data, 0, 4096);
        if (damaged) {
            data[100] ^= 1;
        }
        return new PageBatch("m", 0, seq, 4096, new long[] {addr}, new int[] {0}, new int[] {crc}, data, false);
    }

    private long word0(long addr) {
        return target.guest().mm().readLong(addr);
    }

    @Test
    void anOvertakenBatch_doesNotBringBackOlderContents() {
        stream.onNext(batch(1, BASE, 2, false)); // the newer copy arrives first
        stream.onNext(batch(0, BASE, 1, false));
        assertEquals(2, word0(BASE));
        assertEquals(1, target.counters().stalePages());
    }

    @Test
    void aDuplicateBatch_isDroppedEvenAfterANewerCopy() {
        stream.onNext(batch(0, BASE, 1, false));
        stream.onNext(batch(1, BASE, 2, false));
        stream.onNext(batch(0, BASE, 1, false));
        assertEquals(2, word0(BASE));
        assertEquals(1, target.counters().duplicateBatches());
    }

    @Test
    void aDamagedPage_dropsTheOlderCopyAndHoldsTheSwitchoverUntilResent() {
        stream.onNext(batch(0, BASE, 1, false));
        stream.onNext(batch(1, BASE, 2, true));
        assertEquals(1, target.counters().checksumMismatchPages());
        assertFalse(target.receivedPages().get(0), "the stale copy is gone, so the bitmap asks for the page");
        SwitchoverResponse r = target.switchover(new PageTransfer.SwitchoverRequest("m", 0, 2, null, List.of(),
                false, 0));
        assertFalse(r.resumed());
        assertEquals(1, r.missingPages());
        assertEquals(IncomingMigration.State.RECEIVING, target.state(), "refused, not failed");
        stream.onNext(batch(2, BASE, 2, false));
        assertTrue(target.receivedPages().get(0));
        assertEquals(2, word0(BASE));
    }
}
