package dev.livemig.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.livemig.migration.MigrationControl.DirtyTrackerKind;
import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.SwitchoverPolicy;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Each wither of {@link MigrationParameters} changes its own field and no other. */
class MigrationParametersTest {
    private static final MigrationParameters BASE = MigrationParameters.of(MigrationMode.PRECOPY);

    static Stream<Arguments> withers() {
        return Stream.of(
                row("mode", p -> p.withMode(MigrationMode.HYBRID), MigrationParameters::mode, MigrationMode.HYBRID),
                row("downtimeLimitMs", p -> p.withDowntimeLimitMs(7), MigrationParameters::downtimeLimitMs, 7L),
                row("bandwidthLimitBytesPerS", p -> p.withBandwidthLimitBytesPerS(9),
                        MigrationParameters::bandwidthLimitBytesPerS, 9L),
                row("maxRounds", p -> p.withMaxRounds(5), MigrationParameters::maxRounds, 5),
                row("tracker", p -> p.withTracker(DirtyTrackerKind.SOFT_DIRTY), MigrationParameters::tracker,
                        DirtyTrackerKind.SOFT_DIRTY),
                row("switchoverPolicy", p -> p.withSwitchoverPolicy(SwitchoverPolicy.DIRTY_LIMIT),
                        MigrationParameters::switchoverPolicy, SwitchoverPolicy.DIRTY_LIMIT),
                row("dirtyLimitPagesPerS", p -> p.withDirtyLimitPagesPerS(11), MigrationParameters::dirtyLimitPagesPerS, 11L),
                row("postcopyAfterRounds", p -> p.withPostcopyAfterRounds(3), MigrationParameters::postcopyAfterRounds, 3),
                row("manualRounds", p -> p.withManualRounds(true), MigrationParameters::manualRounds, true),
                row("verifyPages", p -> p.withVerifyPages(true), MigrationParameters::verifyPages, true),
                row("precopyRetries", p -> p.withPrecopyRetries(4), MigrationParameters::precopyRetries, 4),
                row("reconnectTimeoutMs", p -> p.withReconnectTimeoutMs(13), MigrationParameters::reconnectTimeoutMs, 13L));
    }

    private static Arguments row(String name, Function<MigrationParameters, MigrationParameters> with,
                                 Function<MigrationParameters, Object> get, Object value) {
        return Arguments.of(name, with, get, value);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("withers")
    void aWitherChangesItsFieldOnly(String name, Function<MigrationParameters, MigrationParameters> with,
                                    Function<MigrationParameters, Object> get, Object value) {
        MigrationParameters changed = with.apply(BASE);
        assertNotEquals(value, get.apply(BASE), "the test value differs from the default");
        assertEquals(value, get.apply(changed));
        for (var c : MigrationParameters.class.getRecordComponents()) {
            if (!c.getName().equals(name)) {
                try {
                    assertEquals(c.getAccessor().invoke(BASE), c.getAccessor().invoke(changed), c.getName());
                } catch (ReflectiveOperationException e) {
                    throw new AssertionError(e);
                }
            }
        }
    }
}
