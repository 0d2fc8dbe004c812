package dev.livemig.migration.source;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.livemig.migration.MigrationControl.SwitchoverCost;
import dev.livemig.migration.stats.PageChecksums.PresentMethod;
import org.junit.jupiter.api.Test;

/** Given the rounds' measurements, the final pass predicted (ConvergenceTest's style: rounds in, figures out). */
class PassRateTest {
    private static final long MS = 1_000_000;

    @Test
    void predictDowntime_addsEveryPartOfTheFixedSwitchoverCost() {
        SwitchoverCost fixed = new SwitchoverCost(0.5, 2, 3, 4, 30);
        assertEquals(39.5, fixed.totalMs(), 1e-9);
        // 100 MB streamed in 1 s beside nothing else: 100 MB/s
        PassRate rate = PassRate.UNKNOWN.after(100_000_000, 1000 * MS, 0, 0, 0, 0, 40, 0);
        assertEquals(250.0 + 39.5, Convergence.predictDowntimeMs(rate.predict(25_000_000, 6104, 0), fixed), 1e-9);
        // nothing left to send still costs the switchover itself
        assertEquals(39.5, Convergence.predictDowntimeMs(PassRate.UNKNOWN.predict(0, 0, 0), fixed), 1e-9);
    }

    /**
     * A round of 80 MB sent in 200 ms, 40 ms of which walked 2 048 spans, with lookups
     * sampled at 2 µs a page: the stream ran at 80 MB / 160 ms = 500 MB/s and a span cost
     * 19.53 µs to walk. A final pass of 20 000 pages (20 MB) over 2 000 spans walks for
     * 39.06 ms or looks up for 40 ms: it walks. Of 5 000 pages over the same spans, it looks
     * them up for 10 ms where the walk would take 39 ms.
     */
    @Test
    void predict_walksOrLooksUpWhicheverTheMeasuredCostsMakeCheaper() {
        PassRate rate = PassRate.UNKNOWN.after(80_000_000, 200 * MS, 40 * MS, 2048, 0, 2_000, 40, 0);
        assertEquals(500_000_000.0, rate.streamBytesPerS(), 1e-3);
        assertEquals(40.0 * MS / 2048, rate.walkNsPerSpan(), 1e-9);
        PassRate.TransferPrediction big = rate.predict(20_000_000, 20_000, 2000);
        assertEquals(PresentMethod.WALK, big.method());
        assertEquals(2000 * 40.0 / 2048, big.walkMs(), 1e-9);
        assertEquals(0.0, big.lookupMs());
        assertEquals(2000 * 40.0 / 2048 + 40.0, big.totalMs(), 1e-9);
        PassRate.TransferPrediction small = rate.predict(5_000_000, 5_000, 2000);
        assertEquals(PresentMethod.LOOKUP, small.method());
        assertEquals(0.0, small.walkMs());
        assertEquals(10.0, small.lookupMs(), 1e-9);
        assertEquals(10.0 + 10.0, small.totalMs(), 1e-9);
        assertEquals(500_000_000.0, small.streamBytesPerS(), 1e-3);
        // the pass itself makes the same choice for the same pages and spans
        assertEquals(PresentMethod.LOOKUP, rate.method(5_000, 2000));
        assertEquals(PresentMethod.WALK, rate.method(20_000, 2000));
        // the same 5 000 pages packed into 10 spans: the walk is cheaper again
        assertEquals(PresentMethod.WALK, rate.predict(5_000_000, 5_000, 10).method());
        // nothing left: nothing to find either
        assertEquals(0.0, rate.predict(0, 0, 0).totalMs());
    }

    /** Until the walk measured a cost per span and the lookups one per page, a pass walks (and measures both). */
    @Test
    void method_walksUntilBothCostsAreMeasured() {
        assertEquals(PresentMethod.WALK, PassRate.UNKNOWN.method(1, 2048));
        PassRate walkOnly = PassRate.UNKNOWN.after(80_000_000, 200 * MS, 40 * MS, 2048, 0, 0, 40, 0);
        assertEquals(PresentMethod.WALK, walkOnly.method(1, 2048));
        // a looking-up round keeps the walk's cost it did not measure, and measures its own per page
        PassRate both = walkOnly.after(8_000_000, 30 * MS, 0, 0, 4 * MS, 2_000, 40, 0);
        assertEquals(40.0 * MS / 2048, both.walkNsPerSpan(), 1e-9);
        assertEquals(2_000.0, both.lookupNsPerPage(), 1e-9);
        // lookups that came out dear: the next pass walks again
        PassRate dear = both.after(8_000_000, 60 * MS, 0, 0, 30 * MS, 25_000, 40, 0);
        assertEquals(PresentMethod.WALK, dear.method(2000, 2000));
    }

    /**
     * Under one throttle the estimate pools the rounds' bytes over their stream time (the
     * send beside finding the present pages), so that one short round's swing moves it less:
     * 240 MB in 0.8 s (300 MB/s) then 60 MB in 0.12 s (500 MB/s) give 300 MB over 0.92 s,
     * 326 MB/s, not the last round's 500 MB/s. At most {@link PassRate#STREAM_WINDOW} rounds:
     * a fourth pushes the first out.
     */
    @Test
    void streamRate_poolsTheLastRoundsUnderTheSameThrottle() {
        assertEquals(3, PassRate.STREAM_WINDOW, "the figures below are for a window of three rounds");
        PassRate r1 = PassRate.UNKNOWN.after(240_000_000, 830 * MS, 30 * MS, 2048, 0, 1_000, 0, 0);
        assertEquals(300_000_000.0, r1.streamBytesPerS(), 1e-3);
        PassRate r2 = r1.after(60_000_000, 150 * MS, 25 * MS, 2048, 5 * MS, 1_000, 0, 0);
        assertEquals(300_000_000 / 0.92, r2.streamBytesPerS(), 1e-3);
        assertEquals(30_000_000 * 1000.0 / (300_000_000 / 0.92), r2.predict(30_000_000, 7324, 0).streamMs(), 1e-6);
        PassRate r3 = r2.after(40_000_000, 100 * MS, 0, 0, 20 * MS, 2_000, 0, 0);
        assertEquals(340_000_000 / 1.0, r3.streamBytesPerS(), 1e-3);
        PassRate r4 = r3.after(20_000_000, 50 * MS, 0, 0, 10 * MS, 2_000, 0, 0);
        assertEquals(120_000_000 / 0.24, r4.streamBytesPerS(), 1e-3);
    }

    /**
     * The rounds of the downtime scenario's run 3 (docs/benchmarks.md, 05:03 UTC): round 2 at
     * 30 % throttle streamed 128 486 pages in 1 239.7 ms (425 MB/s), round 3 at 40 %
     * 42 613 pages in 412.7 ms (423 MB/s); auto-converge raised the throttle between them,
     * so the estimate is round 3's alone, and a dirty limit set (or lifted) starts over too.
     */
    @Test
    void streamRate_startsOverWhenTheVcpusAreHeldBackDifferently() {
        PassRate r2 = PassRate.UNKNOWN.after(128_486L * 4096, 1_291_200_000L, 51_500_000L, 2048, 0, 800, 30, 0);
        PassRate r3 = r2.after(42_613L * 4096, 454_000_000L, 41_300_000L, 2048, 0, 800, 40, 0);
        assertEquals(42_613L * 4096 * 1e9 / 412_700_000L, r3.streamBytesPerS(), 1e-3);
        PassRate limited = r3.after(42_613L * 4096, 454_000_000L, 41_300_000L, 2048, 0, 800, 40, 5_000);
        assertEquals(42_613L * 4096 * 1e9 / 412_700_000L, limited.streamBytesPerS(), 1e-3);
        PassRate again = limited.after(4096 * 1000L, 20_000_000L, 0, 0, 10_000_000L, 800, 40, 5_000);
        assertEquals((42_613L + 1000) * 4096 * 1e9 / 422_700_000L, again.streamBytesPerS(), 1e-3);
    }

    @Test
    void after_keepsThePreviousMeasurementWhereASendMeasuredNothing() {
        PassRate prev = PassRate.UNKNOWN.after(400_000_000, 1050 * MS, 50 * MS, 2500, 0, 900, 40, 0);
        // nothing sent: nothing measured
        assertEquals(prev, prev.after(0, 0, 0, 0, 0, 0, 40, 0));
        // a send that was all walk has no stream time to divide by
        PassRate walkOnly = prev.after(4096, MS, MS, 50, 0, 0, 40, 0);
        assertEquals(20_000.0, walkOnly.walkNsPerSpan(), 1e-9);
        assertEquals(400_000_000.0, walkOnly.streamBytesPerS(), 1e-9);
        assertEquals(900.0, walkOnly.lookupNsPerPage(), 1e-9);
        // no rate measured yet: bytes left cannot be predicted
        assertEquals(Double.POSITIVE_INFINITY, PassRate.UNKNOWN.predict(4096, 1, 1).totalMs());
        assertThrows(IllegalArgumentException.class, () -> prev.after(-1, 0, 0, 0, 0, 0, 40, 0));
        assertThrows(IllegalArgumentException.class, () -> prev.after(1, 1, 0, 0, 0, Double.NaN, 40, 0));
        assertThrows(IllegalArgumentException.class, () -> prev.predict(1, -1, 0));
    }
}
