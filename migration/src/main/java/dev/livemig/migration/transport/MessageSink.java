package dev.livemig.migration.transport;

/**
 * One direction of a message stream, shaped like grpc-java's StreamObserver (without
 * depending on it): a gRPC transport adapts each to the other in one line, and the
 * in-memory transport hands messages across threads.
 *
 * <p>Calls on one sink are serialised by the caller. After {@link #onCompleted} or
 * {@link #onError} no further call is made.
 */
public interface MessageSink<T> {
    void onNext(T message);

    /** The sender half-closed the stream: no more messages. */
    void onCompleted();

    /** The stream broke or was cancelled; {@code t} says why. */
    void onError(Throwable t);

    /** A sink that drops everything (for a caller that needs no answer). */
    static <T> MessageSink<T> discarding() {
        return new MessageSink<>() {
            @Override
            public void onNext(T message) {
            }

            @Override
            public void onCompleted() {
            }

            @Override
            public void onError(Throwable t) {
            }
        };
    }
}
