package dev.livemig.migration.source;

import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.PostcopyTargetMessage;

/** The target's side of the priority channel, as seen by the source. */
final class PostcopyCompletion implements MessageSink<PostcopyTargetMessage> {
    volatile PostcopyPageServer server;
    private final java.util.concurrent.CountDownLatch latch = new java.util.concurrent.CountDownLatch(1);
    volatile String error;
    private volatile boolean ok;

    @Override
    public void onNext(PostcopyTargetMessage m) {
        if (m instanceof PageTransfer.PageRequest r) {
            server.onRequest(r);
        } else if (m instanceof PageTransfer.PostcopyTargetDone d) {
            server.targetLegs = d.legs();
            server.targetFaultLatency = d.faultLatency();
            ok = true;
            latch.countDown();
        }
    }

    @Override
    public void onCompleted() {
        latch.countDown();
    }

    @Override
    public void onError(Throwable t) {
        error = t.toString();
        latch.countDown();
    }

    boolean await(long ms) {
        try {
            return latch.await(ms, java.util.concurrent.TimeUnit.MILLISECONDS) && ok;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
