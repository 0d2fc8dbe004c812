package dev.livemig.migration.tracker;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.mm.proc.ClearRefs;
import dev.livemig.mm.proc.Pagemap;

/**
 * Soft-dirty tracking as CRIU's pre-dump does it: write "4" to /proc/pid/clear_refs to
 * reset, read the PM_SOFT_DIRTY bit of /proc/pid/pagemap to harvest. Reading and
 * resetting are two separate steps, so a write between them would be lost; CRIU freezes
 * the task around them, and so does this tracker: {@link #collect} must run with the
 * guest's writers stopped (the engine runs it inside {@code WriteLog.mark}).
 *
 * <p>Over-reports by design of the kernel: a whole THP is dirty when one byte of it is,
 * a shmem read fault may map the page dirty, and hugetlb ptes are never cleaned
 * (clear_refs does not walk hugetlb vmas). Needs CONFIG_MEM_SOFT_DIRTY
 * ({@code Kernel.Config.softDirty}).
 */
public final class SoftDirtyTracker implements DirtyTracker {
    /** Pagemap entries read per pread(). */
    static final int CHUNK_PAGES = 4096;

    private final Guest guest;
    private long lastScanNs;

    SoftDirtyTracker(Guest guest) {
        if (!guest.kernel().softDirtyEnabled()) {
            throw new IllegalStateException("soft-dirty tracking needs a kernel with CONFIG_MEM_SOFT_DIRTY");
        }
        this.guest = guest;
    }

    @Override
    public DirtyTrackerKind kind() {
        return DirtyTrackerKind.SOFT_DIRTY;
    }

    @Override
    public void start() {
        ClearRefs.write(guest.mm(), ClearRefs.CLEAR_REFS_SOFT_DIRTY);
    }

    @Override
    public void collect(PageBitmap into) {
        long t0 = System.nanoTime();
        GuestLayout layout = guest.layout();
        for (RegionLayout r : layout.regions()) {
            long pages4k = r.sizeBytes() >>> 12;
            for (long done = 0; done < pages4k; done += CHUNK_PAGES) {
                int n = (int) Math.min(CHUNK_PAGES, pages4k - done);
                long base = r.startAddress() + (done << 12);
                long[] pme = Pagemap.read(guest.mm(), base, n);
                for (int k = 0; k < n; k++) {
                    if ((pme[k] & Pagemap.PM_SOFT_DIRTY) != 0) {
                        into.set(layout.pageIndex(base + ((long) k << 12)));
                    }
                }
            }
        }
        ClearRefs.write(guest.mm(), ClearRefs.CLEAR_REFS_SOFT_DIRTY);
        lastScanNs = System.nanoTime() - t0;
    }

    @Override
    public long lastScanNs() {
        return lastScanNs;
    }

    @Override
    public void close() {
        // soft-dirty bits cost nothing when nobody reads them
    }
}
