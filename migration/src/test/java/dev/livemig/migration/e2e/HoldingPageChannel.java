package dev.livemig.migration.e2e;

import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageChannel;
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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A PageChannel decorator for tests that can hold the handshake (so a migration stays in
 * SETUP until released) whatever transport it wraps.
 */
final class HoldingPageChannel implements PageChannel {
    private final PageChannel inner;
    private final CountDownLatch handshakeEntered = new CountDownLatch(1);
    private final CountDownLatch release;

    HoldingPageChannel(PageChannel inner, boolean holdHandshake) {
        this.inner = inner;
        this.release = new CountDownLatch(holdHandshake ? 1 : 0);
    }

    /** Waits until the source is inside handshake(). */
    void awaitHandshake() throws InterruptedException {
        if (!handshakeEntered.await(10, TimeUnit.SECONDS)) {
            throw new AssertionError("the source never called handshake");
        }
    }

    void release() {
        release.countDown();
    }

    @Override
    public HandshakeResponse handshake(HandshakeRequest request) {
        handshakeEntered.countDown();
        try {
            release.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return inner.handshake(request);
    }

    @Override
    public MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack) {
        return inner.pushPages(ack);
    }

    @Override
    public SwitchoverResponse switchover(SwitchoverRequest request) {
        return inner.switchover(request);
    }

    @Override
    public MessageSink<PostcopySourceMessage> postcopy(MessageSink<PostcopyTargetMessage> fromTarget) {
        return inner.postcopy(fromTarget);
    }

    @Override
    public ReceivedBitmapResponse receivedBitmap(ReceivedBitmapRequest request) {
        return inner.receivedBitmap(request);
    }

    @Override
    public VerifyResponse verify(VerifyRequest request) {
        return inner.verify(request);
    }

    @Override
    public dev.livemig.migration.transport.PageTransfer.SyncResponse sync(
            dev.livemig.migration.transport.PageTransfer.SyncRequest request) {
        return inner.sync(request);
    }

    @Override
    public void close() {
        inner.close();
    }
}
