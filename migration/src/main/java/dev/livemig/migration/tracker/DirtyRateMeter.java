package dev.livemig.migration.tracker;

import dev.livemig.migration.MigrationControl.DirtyRatePeriod;
import dev.livemig.migration.MigrationControl.DirtyRateResult;
import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.MigrationControl.RegionDirtyRate;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.PageBitmap;
import java.util.ArrayList;
import java.util.List;

/**
 * Measures a running guest's dirty rate without migrating it (QEMU's calc-dirty-rate in
 * dirty-bitmap mode, livemig.v1.MeasureDirtyRate): arms a tracker, lets the guest run for
 * the given time, and counts the distinct pages written, per period and per region. The
 * rate is distinct pages per second, not stores per second: a page written twice in a
 * period counts once, which is what a migration would have to resend.
 *
 * <p>The guest must not be under migration at the same time: both would register the
 * same memory with a userfaultfd (EBUSY).
 */
public final class DirtyRateMeter {
    private DirtyRateMeter() {
    }

    /**
     * Measures for {@code durationMs} (0: 1000), split into periods of {@code periodMs}
     * (0: one period), blocking the caller meanwhile.
     */
    public static DirtyRateResult measure(String guestId, Guest guest, DirtyTrackerKind kind, long durationMs,
                                          long periodMs) throws InterruptedException {
        long duration = durationMs == 0 ? 1000 : durationMs;
        long period = periodMs == 0 || periodMs > duration ? duration : periodMs;
        GuestLayout layout = guest.layout();
        PageBitmap all = new PageBitmap(layout.pages());
        List<DirtyRatePeriod> periods = new ArrayList<>();
        long scanNs = 0;
        try (DirtyTracker t = DirtyTracker.create(kind, guest)) {
            guest.writeLog().mark(t::start);
            long t0 = System.nanoTime();
            long periodStart = t0;
            while (true) {
                long elapsedMs = (System.nanoTime() - t0) / 1_000_000;
                if (elapsedMs >= duration) {
                    break;
                }
                Thread.sleep(Math.min(period, duration - elapsedMs));
                PageBitmap dirty = new PageBitmap(layout.pages());
                guest.writeLog().mark(() -> t.collect(dirty));
                scanNs += t.lastScanNs();
                long now = System.nanoTime();
                long n = dirty.cardinality();
                periods.add(new DirtyRatePeriod((periodStart - t0) / 1_000_000, (now - periodStart) / 1_000_000, n,
                        n * 1e9 / Math.max(1, now - periodStart)));
                all.or(dirty);
                periodStart = now;
            }
            long total = periodStart - t0;
            long pages = all.cardinality();
            List<RegionDirtyRate> regions = new ArrayList<>();
            for (int r = 0; r < layout.regions().size(); r++) {
                int from = layout.firstPage(r);
                long n = all.cardinality(from, from + layout.regions().get(r).pages());
                regions.add(new RegionDirtyRate(layout.regions().get(r).name(), n, n * 1e9 / Math.max(1, total)));
            }
            return new DirtyRateResult(guestId, kind, total / 1_000_000, pages, pages * 1e9 / Math.max(1, total),
                    layout.bytesOf(all) * 1e9 / Math.max(1, total), scanNs, periods, regions);
        }
    }
}
