package dev.livemig.mm.uffd;

/**
 * Mirrors struct userfaultfd_wait_queue: a thread blocked in handle_userfault() (or in
 * userfaultfd_event_wait_completion() for events) until a monitor resolves it.
 *
 * <p>Like the kernel's entry on ctx->fault_wqh, each waiter is woken on its own: the
 * resolving ioctl finds the waiters whose address lies in its range (wake_userfault()
 * with userfaultfd_wake_function() matching the range), sets {@link #woken} and unparks
 * exactly their threads. The waiter sleeps without the context's lock, so waking it is
 * one hand-off, with no lock to re-acquire and no other thread woken.
 */
public final class UffdWaiter {
    final UserfaultfdCtx ctx;
    final UffdMsg msg;
    /** The sleeping thread: the one that queued the fault or event. */
    final Thread thread;
    /** Set (under the context's lock) before {@link #thread} is unparked. */
    volatile boolean woken;

    UffdWaiter(UserfaultfdCtx ctx, UffdMsg msg) {
        this.ctx = ctx;
        this.msg = msg;
        this.thread = Thread.currentThread();
    }

    public UffdMsg msg() {
        return msg;
    }

    /** Sleeps until woken (UFFDIO_WAKE, a resolving ioctl, unregister, read of an event, close). */
    public void await() {
        ctx.awaitWaiter(this);
    }
}
