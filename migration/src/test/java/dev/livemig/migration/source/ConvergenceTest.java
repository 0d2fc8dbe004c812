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
