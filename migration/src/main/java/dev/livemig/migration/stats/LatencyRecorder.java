package dev.livemig.migration.stats;

import dev.livemig.migration.MigrationControl.LatencyBucket;
import dev.livemig.migration.MigrationControl.LatencySummary;
import java.util.ArrayList;
import java.util.List;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

/**
 * A latency distribution in microseconds (an HdrHistogram with three significant digits
 * up to one minute), safe for concurrent recorders, summarised as livemig.v1.LatencySummary.
 */
public final class LatencyRecorder {
    private static final long MAX_US = 60_000_000L;
    private final Histogram histogram = new Histogram(MAX_US, 3);

    /** Records one latency given in nanoseconds. */
    public synchronized void recordNanos(long nanos) {
        long us = Math.max(0, Math.min(MAX_US, nanos / 1000));
        histogram.recordValue(us);
    }

    public synchronized long count() {
        return histogram.getTotalCount();
    }

    public synchronized LatencySummary summary() {
        if (histogram.getTotalCount() == 0) {
            return LatencySummary.EMPTY;
        }
        return new LatencySummary(histogram.getTotalCount(), histogram.getMean(),
                histogram.getValueAtPercentile(50), histogram.getValueAtPercentile(99), histogram.getMaxValue(),
                buckets());
    }

    /**
     * Log-scale buckets [2^(k-1), 2^k) us, from the first non-empty one to the last
     * (HdrHistogram's logarithmic iteration stops after the largest recorded value). The
     * iteration reports each bucket's highest value (2^k - 1: latencies are whole
     * microseconds); the bucket carries the exclusive bound 2^k.
     */
    private List<LatencyBucket> buckets() {
        List<LatencyBucket> out = new ArrayList<>();
        for (HistogramIterationValue v : histogram.logarithmicBucketValues(1, 2.0)) {
            if (out.isEmpty() && v.getCountAddedInThisIterationStep() == 0) {
                continue;
            }
            out.add(new LatencyBucket(v.getValueIteratedTo() + 1, v.getCountAddedInThisIterationStep()));
        }
        return out;
    }

    /** The histogram's buckets as text (HdrHistogram's percentile distribution), for reports. */
    public synchronized String distribution() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        histogram.outputPercentileDistribution(new java.io.PrintStream(out, true), 1.0);
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }
}
