package dev.livemig.bench.e2e;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.guest.WriteLog;
import dev.livemig.migration.tracker.DirtyTracker;
import dev.livemig.mm.Kernel;
import java.util.Locale;

/**
 * One tracker on one workload trace, in a JVM of its own (the trackers scenario starts one
 * per tracker, so that none inherits another's JIT state or heap): a guest with a seeded
 * hot-set workload runs unpaced, first untracked, then under the tracker with a collect
 * every interval, as the pre-copy engine collects (with the vCPUs' write sections drained,
 * scored against the guest's write log).
 *
 * <pre>
 *   java -cp benchmarks.jar dev.livemig.bench.e2e.TrackerProbe WP_ASYNC SIZE_MIB ROUNDS INTERVAL_MS
 * </pre>
 *
 * It prints one line: {@code RESULT kind untrackedStoresPerS trackedStoresPerS scanMeanNs
 * scanMaxNs dirtyPagesMean tp fp fn}.
 */
public final class TrackerProbe {
    private TrackerProbe() {
    }

    public static void main(String[] args) throws Exception {
        DirtyTrackerKind kind = DirtyTrackerKind.valueOf(args[0]);
        long sizeMib = Long.parseLong(args[1]);
        int rounds = Integer.parseInt(args[2]);
        long intervalMs = Long.parseLong(args[3]);
        Kernel kernel = new Kernel(new Kernel.Config().softDirty(true));
        GuestSpec spec = GuestSpec.builder().sizeBytes(sizeMib << 20).workload(GuestSpec.Workload.HOTSET)
                .hotSet(0.1, 0.9).writeRatePagesPerS(0).vcpuCount(1).seed(42).build();
        try (Guest guest = Guest.create(kernel, spec)) {
            guest.start();
            Thread.sleep(1000); // past the vCPU's JIT warm-up
            double untracked = storesPerS(guest, 2000);
            DirtyTracker tracker = DirtyTracker.create(kind, guest);
            WriteLog log = guest.writeLog();
            log.mark(tracker::start);
            long a0 = guest.accessesDone();
            long t0 = System.nanoTime();
            long scanSum = 0;
            long scanMax = 0;
            long dirty = 0;
            WriteLog.Score score = WriteLog.Score.NONE;
            for (int r = 0; r < rounds; r++) {
                Thread.sleep(intervalMs);
                PageBitmap reported = new PageBitmap(guest.layout().pages());
                PageBitmap truth = log.mark(() -> tracker.collect(reported));
                score = score.plus(WriteLog.Score.of(reported, truth));
                scanSum += tracker.lastScanNs();
                scanMax = Math.max(scanMax, tracker.lastScanNs());
                dirty += reported.cardinality();
            }
            double tracked = (guest.accessesDone() - a0) * 1e9 / (System.nanoTime() - t0);
            tracker.close();
            System.out.println(String.format(Locale.ROOT, "RESULT %s %.0f %.0f %d %d %d %d %d %d", kind, untracked,
                    tracked, scanSum / rounds, scanMax, dirty / rounds, score.truePositivePages(),
                    score.falsePositivePages(), score.falseNegativePages()));
        } finally {
            kernel.close();
        }
    }

    private static double storesPerS(Guest guest, long ms) throws InterruptedException {
        long a = guest.accessesDone();
        long t = System.nanoTime();
        Thread.sleep(ms);
        return (guest.accessesDone() - a) * 1e9 / (System.nanoTime() - t);
    }
}
