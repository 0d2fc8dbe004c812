package dev.livemig.migration.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.LatencyBucket;
import dev.livemig.migration.MigrationControl.LatencySummary;
import java.util.List;
import org.junit.jupiter.api.Test;

class LatencyRecorderTest {
    @Test
    void buckets_areLogScale_fromTheSmallestToTheLargestLatency_andSumToTheCount() {
        LatencyRecorder r = new LatencyRecorder();
        long[] us = {5, 6, 7, 100, 100, 3000};
        for (long u : us) {
            r.recordNanos(u * 1000);
        }
        LatencySummary s = r.summary();
        List<LatencyBucket> b = s.buckets();
        assertEquals(us.length, b.stream().mapToLong(LatencyBucket::count).sum());
        // 5..7 us fall in [4, 8); 3000 us in [2048, 4096); the empty buckets between are kept
        assertEquals(8, b.get(0).upperBoundUs(), b::toString);
        assertEquals(3, b.get(0).count());
        assertEquals(4096, b.get(b.size() - 1).upperBoundUs(), b::toString);
        assertEquals(1, b.get(b.size() - 1).count());
        for (int i = 1; i < b.size(); i++) {
            assertEquals(2 * b.get(i - 1).upperBoundUs(), b.get(i).upperBoundUs(), b::toString);
        }
        assertEquals(2, b.stream().filter(k -> k.upperBoundUs() == 128).findFirst().orElseThrow().count());
        assertTrue(b.stream().anyMatch(k -> k.count() == 0), "empty buckets between are kept: " + b);
    }

    @Test
    void anEmptyRecorder_hasNoBuckets() {
        assertEquals(List.of(), new LatencyRecorder().summary().buckets());
    }
}
