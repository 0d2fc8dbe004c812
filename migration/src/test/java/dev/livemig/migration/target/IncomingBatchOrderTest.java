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
    /**
     * A batch of {@code n} pages at consecutive addresses from {@code addr}, page i holding
     * {@code word0 + i}, its data at offset {@code pad} of a larger array; page
     * {@code damagedPage} (-1: none) damaged after its checksum was taken.
     */
    private static PageBatch run(long seq, long addr, int n, long word0, int damagedPage, int pad) {
        byte[] data = new byte[pad + n * 4096 + 7];
        long[] addrs = new long[n];
        int[] crcs = new int[n];
        for (int i = 0; i < n; i++) {
            ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).putLong(pad + i * 4096, word0 + i);
            crcs[i] = PageTransfer.crc32c(data, pad + i * 4096, 4096);
            addrs[i] = addr + 4096L * i;
        }
        if (damagedPage >= 0) {
            data[pad + damagedPage * 4096 + 100] ^= 1;
        }
        return new PageBatch("m", 0, seq, 4096, addrs, new int[n], crcs, data, false, pad, n * 4096);
    }

    @Test
    void aRunOfConsecutivePages_isPlacedFromItsDataRangeAroundADamagedPage() {
        stream.onNext(run(0, BASE, 40, 100, 17, 333));
        for (int i = 0; i < 40; i++) {
            if (i == 17) {
                assertFalse(target.receivedPages().get(i), "the damaged page is not installed");
            } else {
                assertEquals(100 + i, word0(BASE + 4096L * i), "page " + i);
                assertTrue(target.receivedPages().get(i));
            }
        }
        assertEquals(1, target.counters().checksumMismatchPages());
    }

    @Test
    void aRunOverPagesAlreadyReceived_replacesThemWithTheNewerCopy() {
        stream.onNext(run(0, BASE + 4096L * 8, 4, 1, -1, 0)); // pages 8..11, older contents
        stream.onNext(run(1, BASE, 32, 500, -1, 0));          // pages 0..31 again, newer
        for (int i = 0; i < 32; i++) {
            assertEquals(500 + i, word0(BASE + 4096L * i), "page " + i);
        }
        stream.onNext(run(2, BASE, 2, 7, -1, 0)); // a short run over the start of the long one
        assertEquals(7, word0(BASE));
        assertEquals(8, word0(BASE + 4096));
        assertEquals(502, word0(BASE + 8192));
    }
}
