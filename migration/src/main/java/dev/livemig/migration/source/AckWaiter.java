package dev.livemig.migration.source;

import dev.livemig.migration.transport.MessageSink;
import dev.livemig.migration.transport.PageTransfer.PushPagesAck;

/** The one PushPagesAck of the page stream. */
final class AckWaiter implements MessageSink<PushPagesAck> {
    private PushPagesAck ack;
    private boolean done;
    private volatile Throwable error;

    /** Why the target ended the stream with an error, or null. */
    Throwable error() {
        return error;
    }

    @Override
    public synchronized void onNext(PushPagesAck a) {
        ack = a;
    }

    @Override
    public synchronized void onCompleted() {
        done = true;
        notifyAll();
    }

    @Override
    public synchronized void onError(Throwable t) {
        error = t;
        done = true;
        notifyAll();
    }

    synchronized PushPagesAck await(long ms) {
        long deadline = System.currentTimeMillis() + ms;
        while (!done) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                break;
            }
            try {
                wait(left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return ack;
    }
}
