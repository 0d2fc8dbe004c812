package dev.livemig.migration.stats;

import dev.livemig.migration.MigrationControl.LatencySummary;
import org.HdrHistogram.Histogram;

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
                histogram.getValueAtPercentile(50), histogram.getValueAtPercentile(99), histogram.getMaxValue());
    }

    /** The histogram's buckets as text (HdrHistogram's percentile distribution), for reports. */
    public synchronized String distribution() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        histogram.outputPercentileDistribution(new java.io.PrintStream(out, true), 1.0);
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }
}
