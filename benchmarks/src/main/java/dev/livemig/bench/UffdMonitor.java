package dev.livemig.bench;

import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.function.LongConsumer;

/**
 * The monitor side of a synchronous userfaultfd benchmark: a thread that reads each fault
 * message and resolves it with the given ioctl (which also wakes the faulting thread), as
 * a post-copy target or a uffd-wp tracker does.
 */
final class UffdMonitor implements AutoCloseable {
    private final UserfaultfdCtx uffd;
    private final Thread thread;
    private volatile boolean running = true;

    /** {@code resolve} gets the page-aligned fault address. */
    UffdMonitor(UserfaultfdCtx uffd, String name, LongConsumer resolve) {
        this.uffd = uffd;
        this.thread = new Thread(() -> {
            while (running) {
                UffdMsg m = uffd.read(20_000_000L);
                if (m != null && m.isPagefault()) {
                    resolve.accept(m.address() & ~4095L);
                }
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        thread.join(1000);
    }
}
