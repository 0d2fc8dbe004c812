package dev.livemig.migration.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The probe's arithmetic on a clock the test moves: no real time involved. */
class DowntimeProbeTest {
    private final AtomicLong clock = new AtomicLong();
    private final AtomicBoolean sourceUp = new AtomicBoolean(true);
    private final AtomicBoolean targetUp = new AtomicBoolean(false);
    private final DowntimeProbe probe = new DowntimeProbe(List.of(sourceUp::get, targetUp::get), clock::get);

    private int pollAt(long ms) {
        clock.set(ms * 1_000_000);
        return probe.poll();
    }

    @Test
    void longestGap_spansTheLastSourceAnswerToTheFirstTargetAnswer() {
        assertEquals(0, pollAt(0));
        assertEquals(0, pollAt(1));
        assertEquals(0, pollAt(2));
        sourceUp.set(false);
        assertEquals(-1, pollAt(3));
        assertEquals(-1, pollAt(40));
        targetUp.set(true);
        assertEquals(1, pollAt(47));
        assertEquals(1, pollAt(48));
        assertEquals(45.0, probe.longestGapMs(), 1e-9);
        assertEquals(3, probe.answers(0));
        assertEquals(2, probe.answers(1));
    }

    @Test
    void aSilenceUnderWay_countsAsDowntimeAlready() {
        pollAt(10);
        sourceUp.set(false);
        pollAt(11);
        clock.set(130 * 1_000_000L);
        assertEquals(120.0, probe.longestGapMs(), 1e-9);
    }

    @Test
    void aClosedProbe_stopsCountingTheSilence() {
        pollAt(10);
        sourceUp.set(false);
        clock.set(60 * 1_000_000L);
        probe.close(); // never started: closing only freezes the figure
        clock.set(500 * 1_000_000L);
        assertEquals(50.0, probe.longestGapMs(), 1e-9, "a migration's stats read later show the gap at close");
    }

    @Test
    void theFirstEndpointThatAnswers_endsThePoll() {
        targetUp.set(true);
        assertEquals(0, pollAt(1));
        assertEquals(0, probe.answers(1), "the target is not asked while the source answers");
    }

    @Test
    void anEndpointThatThrows_doesNotAnswer() {
        DowntimeProbe p = new DowntimeProbe(List.of(() -> {
            throw new IllegalStateException("node gone");
        }, () -> true), clock::get);
        assertEquals(1, p.poll());
        assertEquals(0, p.answers(0));
    }
}
