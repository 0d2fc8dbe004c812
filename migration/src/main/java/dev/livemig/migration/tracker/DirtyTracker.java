package dev.livemig.migration.tracker;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.PageBitmap;

/**
 * Finds the guest pages written since the last look (QEMU's migration_bitmap_sync).
 * Three implementations share the contract:
 *
 * <ul>
 * <li>{@link WpAsyncTracker}: userfaultfd WP_ASYNC + PAGEMAP_SCAN with
 *     PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, the default: writes resolve in the
 *     kernel, one ioctl reports and re-protects.</li>
 * <li>{@link UffdWpSyncTracker}: synchronous userfaultfd write-protect: every first write
 *     traps to a monitor thread that records the page and unprotects it.</li>
 * <li>{@link SoftDirtyTracker}: soft-dirty bits, reset through clear_refs and read
 *     through /proc/pid/pagemap, with the writers frozen in between (as CRIU does).</li>
 * </ul>
 *
 * <p>Contract: after {@link #start()}, every page written before a {@link #collect}
 * began is reported by that collect or an earlier one (a miss is a false negative, a
 * correctness bug); pages may be over-reported (THP and hugetlb granularity, soft-dirty
 * of read faults). The engine calls {@code start} and {@code collect} with the guest's
 * write sections drained ({@code WriteLog.mark}) so it can score each report exactly.
 */
public interface DirtyTracker extends AutoCloseable {
    DirtyTrackerKind kind();

    /** Arms tracking of every region of the guest. */
    void start();

    /** Adds the pages written since {@link #start()} or the previous collect to {@code into}, and re-arms. */
    void collect(PageBitmap into);

    /** Nanoseconds the last {@link #collect} spent in the kernel interfaces. */
    long lastScanNs();

    /** Stops tracking and leaves no protection behind: the guest runs on untracked. */
    @Override
    void close();

    static DirtyTracker create(DirtyTrackerKind kind, Guest guest) {
        return switch (kind) {
            case WP_ASYNC -> new WpAsyncTracker(guest);
            case UFFD_WP_SYNC -> new UffdWpSyncTracker(guest);
            case SOFT_DIRTY -> new SoftDirtyTracker(guest);
        };
    }
}
