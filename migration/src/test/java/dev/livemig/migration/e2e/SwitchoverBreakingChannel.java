package dev.livemig.migration.e2e;

import dev.livemig.migration.transport.FaultInjectingPageChannel;
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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * Breaks the connection of a {@link FaultInjectingPageChannel} once, at a moment of the
 * switchover that a message count cannot name: the first page batch sent while the source
 * guest is paused (the stop-and-copy pass), or right after the target answered the
 * Switchover call (the target resumed, the answer is lost).
 */
final class SwitchoverBreakingChannel implements PageChannel {
    enum When { DURING_STOP_AND_COPY, SWITCHOVER_ANSWER_LOST }

    private final FaultInjectingPageChannel inner;
    private final When when;
    private final BooleanSupplier sourcePaused;
    private final AtomicBoolean broken = new AtomicBoolean();

    SwitchoverBreakingChannel(FaultInjectingPageChannel inner, When when, BooleanSupplier sourcePaused) {
        this.inner = inner;
        this.when = when;
        this.sourcePaused = sourcePaused;
    }

    /** Whether the connection was broken. */
    boolean broke() {
        return broken.get();
    }

    @Override
    public HandshakeResponse handshake(HandshakeRequest request) {
        return inner.handshake(request);
    }

    @Override
    public MessageSink<PageBatch> pushPages(MessageSink<PushPagesAck> ack) {
        MessageSink<PageBatch> out = inner.pushPages(ack);
        return new MessageSink<>() {
            @Override
            public void onNext(PageBatch b) {
                if (when == When.DURING_STOP_AND_COPY && sourcePaused.getAsBoolean() && broken.compareAndSet(false, true)) {
                    inner.disconnect(); // this batch and everything after it goes nowhere
                }
                out.onNext(b);
            }

            @Override
            public void onCompleted() {
                out.onCompleted();
            }

            @Override
            public void onError(Throwable t) {
                out.onError(t);
            }
        };
    }

    @Override
    public SwitchoverResponse switchover(SwitchoverRequest request) {
        SwitchoverResponse r = inner.switchover(request);
        if (when == When.SWITCHOVER_ANSWER_LOST && broken.compareAndSet(false, true)) {
            inner.disconnect();
            throw new FaultInjectingPageChannel.Disconnected("switchover answer lost (injected)");
        }
        return r;
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
    public void close() {
        inner.close();
    }
}
