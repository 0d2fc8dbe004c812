package dev.livemig.mm.uffd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * The adaptive poll before a userfaultfd sleep: it keeps its budget while polls see their
 * wake-up, shrinks it to nothing when they run out, and then polls only as a periodic
 * probe. Checked by how often the condition is looked at, not by how long anything takes.
 */
class AdaptiveSpinTest {
    private static final long MAX = 20_000;

    /** A condition that turns true on its {@code n}-th evaluation and counts evaluations. */
    private static final class TrueAt implements BooleanSupplier {
        final AtomicInteger calls = new AtomicInteger();
        final int n;

        TrueAt(int n) {
            this.n = n;
        }

        @Override
        public boolean getAsBoolean() {
            return calls.incrementAndGet() >= n;
        }
    }

    @Test
    void pollThatSeesItsWakeupKeepsTheFullBudget() {
        // a budget no preemption outlasts: with 20 µs a loaded machine could deschedule the
        // poll between two looks and fail this test on time instead of on behaviour
        long max = 60_000_000_000L;
        AdaptiveSpin spin = new AdaptiveSpin(max);
        TrueAt done = new TrueAt(3);
        assertTrue(spin.poll(done, Long.MAX_VALUE));
        assertEquals(3, done.calls.get(), "polled until the condition held");
        assertEquals(max, spin.budgetNanos());
    }

    @Test
    void pollsThatRunOutShrinkTheBudgetToNothing() {
        AdaptiveSpin spin = new AdaptiveSpin(MAX);
        assertFalse(spin.poll(() -> false, Long.MAX_VALUE));
        assertEquals(MAX / 4, spin.budgetNanos());
        assertFalse(spin.poll(() -> false, Long.MAX_VALUE));
        assertEquals(MAX / 16, spin.budgetNanos());
        assertFalse(spin.poll(() -> false, Long.MAX_VALUE));
        assertEquals(0, spin.budgetNanos(), "a quarter of 1250 ns is below the minimum");
    }

    @Test
    void withoutBudgetOnlyEveryProbeEveryThWaitPolls() {
        AdaptiveSpin spin = new AdaptiveSpin(MAX);
        for (int i = 0; i < 3; i++) {
            spin.poll(() -> false, Long.MAX_VALUE);
        }
        for (int i = 1; i < AdaptiveSpin.PROBE_EVERY; i++) {
            TrueAt never = new TrueAt(Integer.MAX_VALUE);
            assertFalse(spin.poll(never, Long.MAX_VALUE));
            assertEquals(1, never.calls.get(), "wait " + i + " looks once and parks");
        }
        TrueAt later = new TrueAt(5);
        assertTrue(spin.poll(later, Long.MAX_VALUE), "the probe polls");
        assertEquals(5, later.calls.get());
        assertEquals(MAX, spin.budgetNanos(), "a probe that pays restores the budget");
    }

    @Test
    void probeThatRunsOutDropsBackToNothing() {
        AdaptiveSpin spin = new AdaptiveSpin(MAX);
        for (int i = 0; i < 3 + AdaptiveSpin.PROBE_EVERY - 1; i++) {
            spin.poll(() -> false, Long.MAX_VALUE);
        }
        TrueAt never = new TrueAt(Integer.MAX_VALUE);
        assertFalse(spin.poll(never, Long.MAX_VALUE));
        assertTrue(never.calls.get() > 1, "the probe polled");
        assertEquals(0, spin.budgetNanos());
    }

    @Test
    void parkedWaitWithinTheBudgetRestoresIt() {
        AdaptiveSpin spin = new AdaptiveSpin(MAX);
        for (int i = 0; i < 3; i++) {
            spin.poll(() -> false, Long.MAX_VALUE);
        }
        spin.parkedWaitEnded(2 * MAX);
        assertEquals(0, spin.budgetNanos(), "a wait longer than the budget leaves it off");
        spin.parkedWaitEnded(MAX);
        assertEquals(MAX, spin.budgetNanos(), "a wait polling would have caught turns it back on");
    }

    @Test
    void zeroMaximumNeverPolls() {
        AdaptiveSpin spin = new AdaptiveSpin(0);
        for (int i = 0; i < 2 * AdaptiveSpin.PROBE_EVERY; i++) {
            TrueAt never = new TrueAt(Integer.MAX_VALUE);
            assertFalse(spin.poll(never, Long.MAX_VALUE));
            assertEquals(1, never.calls.get());
        }
    }
}
