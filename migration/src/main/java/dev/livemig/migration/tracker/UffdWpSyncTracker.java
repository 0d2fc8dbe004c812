package dev.livemig.migration.tracker;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.mm.KernelException;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UffdMsg;
import dev.livemig.mm.uffd.UserfaultfdCtx;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Synchronous userfaultfd write-protect tracking (as QEMU's background snapshot uses):
 * every region is registered for WP and protected; the first write to a page blocks its
 * vCPU in handle_userfault() until the monitor thread has recorded the page and lifted
 * the protection with UFFDIO_WRITEPROTECT (which wakes the vCPU). {@link #collect}
 * hands over the recorded pages and protects everything again.
 *
 * <p>The monitor records a page before unprotecting it, and the faulting store is still
 * inside its write section until then, so a collect that runs with write sections
 * drained sees every completed store's page. Each tracked write costs a round trip
 * through the monitor: the reason WP_ASYNC exists.
 */
public final class UffdWpSyncTracker implements DirtyTracker {
    private final Guest guest;
    private final PageBitmap pending;
    private final AtomicLong faults = new AtomicLong();
    private UserfaultfdCtx ctx;
    private Thread monitor;
    private volatile boolean running;
    private long lastScanNs;

    UffdWpSyncTracker(Guest guest) {
        this.guest = guest;
        this.pending = new PageBitmap(guest.layout().pages());
    }

    @Override
    public DirtyTrackerKind kind() {
        return DirtyTrackerKind.UFFD_WP_SYNC;
    }

    @Override
    public void start() {
        ctx = guest.mm().userfaultfd();
        ctx.api(UffdFeatures.WP_UNPOPULATED | UffdFeatures.WP_HUGETLBFS_SHMEM);
        for (RegionLayout r : guest.layout().regions()) {
            ctx.register(r.startAddress(), r.sizeBytes(), UserfaultfdCtx.REGISTER_MODE_WP);
        }
        protectAll();
        running = true;
        monitor = new Thread(this::monitorLoop, "uffd-wp-monitor-" + guest.mm().pid());
        monitor.setDaemon(true);
        monitor.start();
    }

    private void protectAll() {
        for (RegionLayout r : guest.layout().regions()) {
            ctx.writeprotect(r.startAddress(), r.sizeBytes(), UserfaultfdCtx.WRITEPROTECT_MODE_WP);
        }
    }

    private void monitorLoop() {
        GuestLayout layout = guest.layout();
        while (running) {
            UffdMsg msg = ctx.read(20_000_000L);
            if (msg == null || !msg.isPagefault() || !msg.wp()) {
                continue;
            }
            int page = layout.pageIndex(msg.address());
            if (page < 0) {
                continue;
            }
            long size = layout.pageSize(page);
            long addr = layout.pageAddress(page);
            pending.set(page);
            faults.incrementAndGet();
            try {
                ctx.writeprotect(addr, size, 0);
            } catch (KernelException e) {
                ctx.wake(addr, size); // the range changed under us; let the vCPU retry
            }
        }
    }

    @Override
    public void collect(PageBitmap into) {
        long t0 = System.nanoTime();
        into.or(pending.drain());
        protectAll();
        lastScanNs = System.nanoTime() - t0;
    }

    @Override
    public long lastScanNs() {
        return lastScanNs;
    }

    /** WP faults the monitor resolved. */
    public long faults() {
        return faults.get();
    }

    @Override
    public void close() {
        running = false;
        if (monitor != null) {
            try {
                monitor.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            monitor = null;
        }
        if (ctx != null) {
            ctx.close(); // unregisters, clears uffd-wp and wakes anything still blocked
            ctx = null;
        }
    }
}
