package dev.livemig.migration;

/**
 * The thread priority of the post-copy fault path, on both nodes: the target's fault
 * monitor, the transport thread that installs answers, the source's transport thread that
 * answers requests. Not a kernel mirror: QEMU's preempt channel gives the same path
 * threads of its own for the same reason.
 */
public final class FaultPathPriority {
    private FaultPathPriority() {
    }

    /**
     * Gives the calling thread precedence over the background push and the guest's other
     * work: on few shared cores a fault otherwise waits behind them for a time slice at every
     * thread wake-up. The JVM maps the Java priority to the thread's nice value only with
     * {@code -XX:ThreadPriorityPolicy=1}, and raising it (nice -5) needs CAP_SYS_NICE; without
     * either this changes nothing. A Netty event loop keeps the priority afterwards, for
     * every connection it serves (the page stream's too, should the two share a loop).
     */
    public static void runUrgent() {
        Thread t = Thread.currentThread();
        if (t.getPriority() != Thread.MAX_PRIORITY) {
            t.setPriority(Thread.MAX_PRIORITY);
        }
    }
}
