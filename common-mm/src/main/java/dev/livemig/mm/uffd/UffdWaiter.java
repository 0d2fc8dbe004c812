package dev.livemig.mm.uffd;

/**
 * Mirrors struct userfaultfd_wait_queue: a thread blocked in handle_userfault() (or in
 * userfaultfd_event_wait_completion() for events) until a monitor resolves it.
 */
public final class UffdWaiter {
    final UserfaultfdCtx ctx;
    final UffdMsg msg;
    /** Set under the context's lock; volatile for the waiter's lock-free poll before it parks. */
    volatile boolean woken;

    UffdWaiter(UserfaultfdCtx ctx, UffdMsg msg) {
        this.ctx = ctx;
        this.msg = msg;
    }

    public UffdMsg msg() {
        return msg;
    }

    /** Sleeps until woken (UFFDIO_WAKE, a resolving ioctl, unregister, read of an event, close). */
    public void await() {
        ctx.awaitWaiter(this);
    }
}
