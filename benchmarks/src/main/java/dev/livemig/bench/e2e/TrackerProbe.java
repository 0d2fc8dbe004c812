package dev.livemig.bench.e2e;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.guest.PageBitmap;
import dev.livemig.migration.guest.WriteLog;
import dev.livemig.migration.tracker.DirtyTracker;
import dev.livemig.mm.Kernel;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Locale;

/**
 * One tracker on one workload trace, in a JVM of its own (the trackers scenario starts one
 * per tracker, so that none inherits another's JIT state or heap): a guest with a seeded
 * hot-set workload runs unpaced untracked, then under the tracker with a collect every
 * interval, as the pre-copy engine collects (with the vCPUs' write sections drained,
 * scored against the guest's write log), then untracked again. The untracked rate is the
 * mean of the two untracked periods; the scan figures are the median and maximum over
 * the second half of the rounds.
 *
 * <pre>
 *   java -cp benchmarks.jar dev.livemig.bench.e2e.TrackerProbe WP_ASYNC SIZE_MIB ROUNDS INTERVAL_MS
 * </pre>
 *
 * It prints one line: {@code RESULT kind untrackedStoresPerS trackedStoresPerS untrackedCpuNsPerStore
 * trackedCpuNsPerStore scanMedianNs
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
            Thread.sleep(3000); // past the vCPU's JIT warm-up
            double[] untrackedBefore = storesPerS(guest, 2000);
            DirtyTracker tracker = DirtyTracker.create(kind, guest);
            WriteLog log = guest.writeLog();
            log.mark(tracker::start);
            long a0 = guest.accessesDone();
            long t0 = System.nanoTime();
            long c0 = vcpuCpuNanos();
            long[] scans = new long[rounds];
            long dirty = 0;
            WriteLog.Score score = WriteLog.Score.NONE;
            for (int r = 0; r < rounds; r++) {
                Thread.sleep(intervalMs);
                PageBitmap reported = new PageBitmap(guest.layout().pages());
                PageBitmap truth = log.mark(() -> tracker.collect(reported));
                score = score.plus(WriteLog.Score.of(reported, truth));
                scans[r] = tracker.lastScanNs();
                dirty += reported.cardinality();
            }
            long stores = guest.accessesDone() - a0;
            double tracked = stores * 1e9 / (System.nanoTime() - t0);
            double trackedCpu = (double) (vcpuCpuNanos() - c0) / stores;
            tracker.close();
            double[] untrackedAfter = storesPerS(guest, 2000);
            // the scan path runs only once per round: its first rounds are interpreted code
            long[] warm = Arrays.copyOfRange(scans, rounds / 2, rounds);
            Arrays.sort(warm);
            System.out.println(String.format(Locale.ROOT, "RESULT %s %.0f %.0f %.1f %.1f %d %d %d %d %d %d", kind,
                    (untrackedBefore[0] + untrackedAfter[0]) / 2, tracked,
                    (untrackedBefore[1] + untrackedAfter[1]) / 2, trackedCpu, warm[warm.length / 2],
                    warm[warm.length - 1],
                    dirty / rounds, score.truePositivePages(), score.falsePositivePages(),
                    score.falseNegativePages()));
        } finally {
            kernel.close();
        }
    }

    /** Stores per wall-clock second, and vCPU CPU nanoseconds per store, over {@code ms}. */
    private static double[] storesPerS(Guest guest, long ms) throws InterruptedException {
        long a = guest.accessesDone();
        long t = System.nanoTime();
        long c = vcpuCpuNanos();
        Thread.sleep(ms);
        long stores = guest.accessesDone() - a;
        return new double[] {stores * 1e9 / (System.nanoTime() - t), (double) (vcpuCpuNanos() - c) / stores};
    }

    /**
     * CPU time of the vCPU threads: on shared cores the wall-clock store rate depends on
     * what else runs, the CPU time a store costs much less so.
     */
    private static long vcpuCpuNanos() {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("vcpu-")) {
                sum += Math.max(0, mx.getThreadCpuTime(t.getId()));
            }
        }
        return sum;
    }
}
