package dev.livemig.migration.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.transport.FaultInjectingPageChannel.Disconnected;
import dev.livemig.migration.transport.FaultInjectingPageChannel.Fault;
import dev.livemig.migration.transport.FaultInjectingPageChannel.LostMessage;
import dev.livemig.migration.transport.FaultInjectingPageChannel.MessageType;
import dev.livemig.migration.transport.FaultInjectingPageChannel.Rule;
import dev.livemig.migration.transport.PageTransfer.HandshakeRequest;
import dev.livemig.migration.transport.PageTransfer.HandshakeResponse;
import dev.livemig.migration.transport.PageTransfer.PageBatch;
import dev.livemig.migration.transport.PageTransfer.PostcopySourceMessage;
import dev.livemig.migration.transport.PageTransfer.PostcopyTargetMessage;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapRequest;
import dev.livemig.migration.transport.PageTransfer.ReceivedBitmapResponse;
import dev.livemig.migration.transport.PageTransfer.SwitchoverRequest;
import dev.livemig.migration.transport.PageTransfer.SwitchoverResponse;
import dev.livemig.migration.transport.PageTransfer.VerifyRequest;
import dev.livemig.migration.transport.PageTransfer.VerifyResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each injection point against a channel that records what reaches it. */
class FaultInjectingPageChannelTest {
    /** Records the batches (by sequence) and stream endings it receives, and counts handshakes. */
    private static final class Recording implements PageChannel {
        final List<Object> received = new ArrayList<>();
        final List<PageBatch> batches = new ArrayList<>();
        int handshakes;

        @Override
        public HandshakeResponse handshake(HandshakeRequest request) {
            handshakes++;
            return new HandshakeResponse(true, 1, "", List.of());
        }

        @Override
        public MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack) {
            return new MessageSink<>() {
                @Override
                public void onNext(PageBatch b) {
                    received.add(b.sequence());
                    batches.add(b);
                }

                @Override
                public void onCompleted() {
                    received.add("completed");
                    ack.onNext(new PushPagesAck("m", 0, 0, 0, 0, 0, 0));
                    ack.onCompleted();
                }

                @Override
                public void onError(Throwable t) {
                    received.add(t);
                }
            };
        }

        @Override
        public SwitchoverResponse switchover(SwitchoverRequest request) {
            return new SwitchoverResponse(true, 0, 0, 0, "");
        }

        @Override
        public MessageSink<PostcopySourceMessage> postcopy(MessageSink<PostcopyTargetMessage> fromTarget) {
            return MessageSink.discarding();
        }

        @Override
        public ReceivedBitmapResponse receivedBitmap(ReceivedBitmapRequest request) {
            throw new UnsupportedOperationException();
        }

        @Override
        public VerifyResponse verify(VerifyRequest request) {
            throw new UnsupportedOperationException();
        }
    }

    /** What the source's ack sink hears. */
    private static final class Ack implements MessageSink<PushPagesAck> {
        final List<Object> heard = new ArrayList<>();

        @Override
        public void onNext(PushPagesAck a) {
            heard.add(a);
        }

        @Override
        public void onCompleted() {
            heard.add("completed");
        }

        @Override
        public void onError(Throwable t) {
            heard.add(t);
        }
    }

    private final Recording inner = new Recording();
    private final FaultInjectingPageChannel ch = new FaultInjectingPageChannel(inner);
    private final Ack ack = new Ack();

    private static PageBatch batch(long seq) {
        byte[] data = new byte[4096];
        data[7] = (byte) (seq + 1);
        return new PageBatch("m", 0, seq, 4096, new long[] {seq << 12}, new int[] {0},
                new int[] {PageTransfer.crc32c(data, 0, 4096)}, data, false);
    }

    private void send(int n) {
        MessageSink<PageBatch> s = ch.pushPages(ack);
        for (int i = 0; i < n; i++) {
            s.onNext(batch(i));
        }
        s.onCompleted();
    }

    @Test
    void drop_theNthAndEveryKthAfter() {
        ch.inject(Rule.at(MessageType.PAGE_BATCH, 2, Fault.DROP).everyAfter(3));
        send(8);
        assertEquals(List.of(0L, 2L, 3L, 5L, 6L, "completed"), inner.received); // the 2nd, 5th and 8th are lost
        assertEquals(3, ch.injected(Fault.DROP));
        assertEquals(8, ch.messages(MessageType.PAGE_BATCH));
        assertEquals(1, ch.messages(MessageType.PUSH_ACK));
    }

    @Test
    void reorder_swapsWithTheNextAndFlushesBeforeCompletion() {
        ch.inject(Rule.at(MessageType.PAGE_BATCH, 1, Fault.REORDER))
                .inject(Rule.at(MessageType.PAGE_BATCH, 4, Fault.REORDER));
        send(4);
        assertEquals(List.of(1L, 0L, 2L, 3L, "completed"), inner.received);
    }

    @Test
    void duplicate_deliversTwice() {
        ch.inject(Rule.at(MessageType.PAGE_BATCH, 2, Fault.DUPLICATE));
        send(3);
        assertEquals(List.of(0L, 1L, 1L, 2L, "completed"), inner.received);
    }

    @Test
    void corrupt_breaksTheChecksumOfOnePageAndLeavesTheSendersCopyAlone() {
        ch.inject(Rule.at(MessageType.PAGE_BATCH, 1, Fault.CORRUPT));
        MessageSink<PageBatch> s = ch.pushPages(ack);
        PageBatch original = batch(5);
        s.onNext(original);
        s.onNext(batch(6));
        PageBatch bad = inner.batches.get(0);
        assertNotEquals(bad.crc32c()[0], PageTransfer.crc32c(bad.data(), 0, 4096));
        assertEquals(original.crc32c()[0], PageTransfer.crc32c(original.data(), 0, 4096));
        PageBatch good = inner.batches.get(1);
        assertEquals(good.crc32c()[0], PageTransfer.crc32c(good.data(), 0, 4096));
    }

    @Test
    void disconnect_failsBothDirectionsAndLaterCalls() {
        ch.inject(Rule.at(MessageType.PAGE_BATCH, 3, Fault.DISCONNECT));
        send(5);
        assertEquals(3, inner.received.size(), "two batches, then the error: " + inner.received);
        assertInstanceOf(Disconnected.class, inner.received.get(2));
        assertEquals(1, ack.heard.size());
        assertInstanceOf(Disconnected.class, ack.heard.get(0), "the source hears it on the ack");
        assertTrue(ch.isDisconnected());
        assertThrows(Disconnected.class, () -> ch.switchover(null));
    }

    @Test
    void unaryDropAndDuplicate() {
        ch.inject(Rule.at(MessageType.HANDSHAKE, 1, Fault.DROP))
                .inject(Rule.at(MessageType.HANDSHAKE, 2, Fault.DUPLICATE));
        assertThrows(LostMessage.class, () -> ch.handshake(null));
        assertEquals(0, inner.handshakes);
        assertTrue(ch.handshake(null).accepted());
        assertEquals(2, inner.handshakes);
    }

    @Test
    void faultsThatNeedAStreamOrPageData_areRejectedForOtherMessages() {
        assertThrows(IllegalArgumentException.class, () -> Rule.at(MessageType.SWITCHOVER, 1, Fault.REORDER));
        assertThrows(IllegalArgumentException.class, () -> Rule.at(MessageType.PUSH_ACK, 1, Fault.CORRUPT));
        assertThrows(IllegalArgumentException.class, () -> Rule.at(MessageType.PAGE_BATCH, 0, Fault.DROP));
    }
}
