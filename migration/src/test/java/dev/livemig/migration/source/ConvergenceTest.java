package dev.livemig.migration.source;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.RoundDecision;
import dev.livemig.migration.MigrationControl.SwitchoverCost;
import dev.livemig.migration.MigrationControl.SwitchoverPolicy;
import org.junit.jupiter.api.Test;

class ConvergenceTest {
    private static MigrationParameters params(MigrationMode mode, SwitchoverPolicy policy) {
        return MigrationParameters.of(mode).withSwitchoverPolicy(policy).withDowntimeLimitMs(100).withMaxRounds(4)
                .withDirtyLimitPagesPerS(500).withDefaults();
    }

    @Test
    void predictTransfer_isRemainingBytesOverBandwidth() {
        assertEquals(250.0, Convergence.predictTransferMs(25_000_000, 100_000_000), 1e-9);
        assertEquals(0.0, Convergence.predictTransferMs(0, 0));
        assertEquals(Double.POSITIVE_INFINITY, Convergence.predictTransferMs(4096, 0));
    }

    @Test
    void predictDowntime_addsEveryPartOfTheFixedSwitchoverCost() {
        SwitchoverCost fixed = new SwitchoverCost(0.5, 2, 3, 4, 30);
        assertEquals(39.5, fixed.totalMs(), 1e-9);
        Convergence.PassRate rate = new Convergence.PassRate(0, 100_000_000);
        assertEquals(250.0 + 39.5, Convergence.predictDowntimeMs(25_000_000, 100, rate, fixed), 1e-9);
        // nothing left to send still costs the switchover itself
        assertEquals(39.5, Convergence.predictDowntimeMs(0, 0, Convergence.PassRate.UNKNOWN, fixed), 1e-9);
    }

    /**
     * A round of 80 MB sent in 200 ms, 40 ms of which walked 2 048 spans: the stream ran at
     * 80 MB / 160 ms = 500 MB/s and a span cost 19.53 µs to walk. A final pass of 20 MB over
     * 2 000 spans then costs 39.06 ms of walk plus 40 ms of stream, where the round's
     * bandwidth alone (400 MB/s) said 50 ms.
     */
    @Test
    void predictTransfer_walksTheRemainingSpansAndStreamsTheRemainingBytes() {
        Convergence.PassRate rate = Convergence.PassRate.measured(80_000_000, 200_000_000, 40_000_000, 2048,
                Convergence.PassRate.UNKNOWN);
        assertEquals(500_000_000.0, rate.streamBytesPerS(), 1e-3);
        assertEquals(40_000_000.0 / 2048, rate.walkNsPerSpan(), 1e-9);
        Convergence.TransferPrediction p = Convergence.predictTransfer(20_000_000, 2000, rate);
        assertEquals(2000 * 40.0 / 2048, p.walkMs(), 1e-9);
        assertEquals(2000 * 40.0 / 2048 + 40.0, p.totalMs(), 1e-9);
        assertEquals(50.0, Convergence.predictTransferMs(20_000_000, 80_000_000 * 1e9 / 200_000_000), 1e-9);
        // the walk follows the spans: the same pages packed into 10 spans walk for 0.2 ms
        assertEquals(10 * 40.0 / 2048, Convergence.predictTransfer(20_000_000, 10, rate).walkMs(), 1e-9);
        // nothing left: no walk either
        assertEquals(0.0, Convergence.predictTransfer(0, 0, rate).totalMs());
    }

    @Test
    void passRate_keepsThePreviousMeasurementWhereASendMeasuredNothing() {
        Convergence.PassRate prev = new Convergence.PassRate(20_000, 400_000_000);
        // nothing sent: neither part measured
        assertEquals(prev, Convergence.PassRate.measured(0, 0, 0, 0, prev));
        // a send that was all walk has no stream time to divide by
        Convergence.PassRate walkOnly = Convergence.PassRate.measured(4096, 1_000_000, 1_000_000, 50, prev);
        assertEquals(20_000.0, walkOnly.walkNsPerSpan(), 1e-9);
        assertEquals(400_000_000.0, walkOnly.streamBytesPerS(), 1e-9);
        // no rate measured yet: bytes left cannot be predicted
        assertEquals(Double.POSITIVE_INFINITY,
                Convergence.predictTransfer(4096, 1, Convergence.PassRate.UNKNOWN).totalMs());
        assertThrows(IllegalArgumentException.class, () -> Convergence.PassRate.measured(-1, 0, 0, 0, prev));
    }

    @Test
    void decide_switchesOverWhenThePredictionFitsTheLimit() {
        Convergence c = new Convergence(params(MigrationMode.PRECOPY, SwitchoverPolicy.WAIT));
        Convergence.Decision d = c.decide(0, 10, 100.0);
        assertEquals(RoundDecision.SWITCHOVER, d.decision());
        assertTrue(d.reason().contains("100.0 ms <= limit 100 ms"), d.reason());
    }

    @Test
    void wait_continuesThenFailsAtMaxRounds() {
        Convergence c = new Convergence(params(MigrationMode.PRECOPY, SwitchoverPolicy.WAIT));
        for (int r = 0; r < 3; r++) {
            assertEquals(RoundDecision.CONTINUE, c.decide(r, 1000, 500).decision());
        }
        Convergence.Decision d = c.decide(3, 1000, 500);
        assertEquals(RoundDecision.FAIL, d.decision());
        assertTrue(d.reason().contains("max rounds 4"), d.reason());
    }

    @Test
    void force_switchesOverAnywayAtMaxRounds() {
        Convergence c = new Convergence(params(MigrationMode.PRECOPY, SwitchoverPolicy.FORCE));
        assertEquals(RoundDecision.CONTINUE, c.decide(2, 1000, 500).decision());
        assertEquals(RoundDecision.SWITCHOVER, c.decide(3, 1000, 500).decision());
    }

    @Test
    void autoConverge_throttlesFromTheInitialPercentByTheIncrement() {
        Convergence c = new Convergence(params(MigrationMode.PRECOPY, SwitchoverPolicy.AUTO_CONVERGE));
        Convergence.Decision d0 = c.decide(0, 1000, 500);
        assertEquals(RoundDecision.THROTTLE, d0.decision());
        assertEquals(20, d0.throttlePercent());
        assertTrue(d0.reason().endsWith("throttle 0% -> 20%"), d0.reason());
        assertEquals(30, c.decide(1, 1000, 500).throttlePercent());
        assertEquals(40, c.decide(2, 1000, 500).throttlePercent());
        assertEquals(RoundDecision.SWITCHOVER, c.decide(3, 1000, 500).decision());
    }

    @Test
    void dirtyLimit_capsOnceThenContinues() {
        Convergence c = new Convergence(params(MigrationMode.PRECOPY, SwitchoverPolicy.DIRTY_LIMIT));
        Convergence.Decision d = c.decide(0, 1000, 500);
        assertEquals(RoundDecision.THROTTLE, d.decision());
        assertEquals(500, d.dirtyLimitPagesPerS());
        assertEquals(RoundDecision.CONTINUE, c.decide(1, 900, 450).decision());
    }

    @Test
    void postcopy_switchesWhenARoundStopsMakingProgress() {
        Convergence c = new Convergence(params(MigrationMode.HYBRID, SwitchoverPolicy.POSTCOPY));
        assertEquals(RoundDecision.CONTINUE, c.decide(0, 1000, 500).decision());
        assertEquals(RoundDecision.CONTINUE, c.decide(1, 800, 400).decision());
        Convergence.Decision d = c.decide(2, 790, 395);
        assertEquals(RoundDecision.POSTCOPY, d.decision());
        assertTrue(d.reason().contains("not converging (800 -> 790"), d.reason());
    }

    @Test
    void postcopyAfterRounds_switchesAtThatRound() {
        Convergence c = new Convergence(params(MigrationMode.HYBRID, SwitchoverPolicy.POSTCOPY)
                .withPostcopyAfterRounds(2));
        assertEquals(RoundDecision.CONTINUE, c.decide(0, 1000, 500).decision());
        assertEquals(RoundDecision.POSTCOPY, c.decide(1, 500, 250).decision());
    }

    @Test
    void postcopyPolicy_requiresHybridMode() {
        assertThrows(IllegalArgumentException.class,
                () -> params(MigrationMode.PRECOPY, SwitchoverPolicy.POSTCOPY));
    }
}
