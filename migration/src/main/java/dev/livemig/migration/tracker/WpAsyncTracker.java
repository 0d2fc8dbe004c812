package dev.livemig.migration.tracker;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.mm.proc.PagemapScan;
import dev.livemig.mm.uffd.UffdFeatures;
import dev.livemig.mm.uffd.UserfaultfdCtx;

/**
 * The default tracker: userfaultfd with UFFD_FEATURE_WP_ASYNC, harvested with
 * PAGEMAP_SCAN (the design the PAGEMAP_SCAN series was merged for).
 *
 * <p>Setup registers every region for WP with WP_ASYNC | WP_UNPOPULATED and protects it
 * all, so even never-populated pages carry a uffd-wp marker and their first write is
 * seen (without WP_UNPOPULATED those writes would be missed). A write resolves in the
 * kernel by clearing the pte's uffd-wp bit; {@link #collect} asks PAGEMAP_SCAN for
 * PAGE_IS_WRITTEN with PM_SCAN_WP_MATCHING, which re-protects each reported page under
 * the same page-table lock that observed it, and PM_SCAN_CHECK_WPASYNC, which fails
 * (EPERM) rather than silently skipping a region that lost its registration.
 */
public final class WpAsyncTracker implements DirtyTracker {
    /** page_region entries per ioctl; a full vector ends the walk early at walk_end. */
    static final int VEC_LEN = 1024;

    private final Guest guest;
    private UserfaultfdCtx ctx;
    private long lastScanNs;
    private long ioctls;

    WpAsyncTracker(Guest guest) {
        this.guest = guest;
    }

    @Override
    public DirtyTrackerKind kind() {
        return DirtyTrackerKind.WP_ASYNC;
    }

    @Override
    public void start() {
        ctx = guest.mm().userfaultfd();
        ctx.api(UffdFeatures.wpAsync(guest.kernel().profile()) | UffdFeatures.WP_UNPOPULATED
                | UffdFeatures.WP_HUGETLBFS_SHMEM);
        for (RegionLayout r : guest.layout().regions()) {
            ctx.register(r.startAddress(), r.sizeBytes(), UserfaultfdCtx.REGISTER_MODE_WP);
            ctx.writeprotect(r.startAddress(), r.sizeBytes(), UserfaultfdCtx.WRITEPROTECT_MODE_WP);
        }
    }

    @Override
    public void collect(PageBitmap into) {
        long t0 = System.nanoTime();
        GuestLayout layout = guest.layout();
        for (RegionLayout r : layout.regions()) {
            long start = r.startAddress();
            while (start < r.endAddress()) {
                PagemapScan.Arg arg = PagemapScan.Arg.of(start, r.endAddress())
                        .withFlags(PagemapScan.PM_SCAN_WP_MATCHING | PagemapScan.PM_SCAN_CHECK_WPASYNC)
                        .withMasks(0, PagemapScan.PAGE_IS_WRITTEN, 0, PagemapScan.PAGE_IS_WRITTEN)
                        .withVec(false, VEC_LEN, 0);
                PagemapScan.Result res = PagemapScan.scan(guest.mm(), arg);
                ioctls++;
                for (PagemapScan.Region pr : res.regions()) {
                    for (long a = pr.start(); a < pr.end(); a += r.pageSizeBytes()) {
                        into.set(layout.pageIndex(a));
                    }
                }
                start = res.walkEnd();
            }
        }
        lastScanNs = System.nanoTime() - t0;
    }

    @Override
    public long lastScanNs() {
        return lastScanNs;
    }

    /** PAGEMAP_SCAN calls so far (more than one per region when the vector fills). */
    public long ioctls() {
        return ioctls;
    }

    @Override
    public void close() {
        if (ctx != null) {
            ctx.close();
            ctx = null;
        }
    }
}
