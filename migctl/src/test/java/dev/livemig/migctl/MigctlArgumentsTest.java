package dev.livemig.migctl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Bad command lines: one line on stderr naming the offending option, exit code 2, and no
 * connection attempted (the channel factory counts opens).
 */
class MigctlArgumentsTest {
    private final AtomicInteger opened = new AtomicInteger();
    private final ChannelFactory counting = a -> {
        opened.incrementAndGet();
        return ChannelFactory.NETTY.open(a);
    };

    private MigctlRunner.Result usageError(String... args) {
        MigctlRunner.Result r = MigctlRunner.run(counting, args);
        assertEquals(Migctl.EXIT_USAGE, r.exit(), () -> "exit code of " + List.of(args) + ": " + r);
        assertEquals("", r.out());
        assertEquals(1, r.err().lines().count(), () -> "one line expected: " + r.err());
        assertTrue(r.err().startsWith("migctl"), r.err());
        assertEquals(0, opened.get(), "a usage error must not reach for the network");
        return r;
    }

    @Test
    void negativeGuestSize_isRejected() {
        MigctlRunner.Result r = usageError("migrate", "--guest-mib", "-5");
        assertTrue(r.err().contains("--guest-mib") && r.err().contains("positive"), r.err());
    }

    @Test
    void zeroGuestSize_isRejected() {
        assertTrue(usageError("guest", "start", "--guest-mib", "0").err().contains("--guest-mib"));
    }

    @Test
    void negativeDirtyRate_isRejected() {
        assertTrue(usageError("demo", "--dirty-rate", "-1").err().contains("--dirty-rate"));
    }

    @Test
    void unknownMode_listsTheValidOnes() {
        String err = usageError("migrate", "--mode", "teleport").err();
        assertTrue(err.contains("--mode") && err.contains("PRECOPY") && err.contains("teleport"), err);
    }

    @Test
    void unknownWorkload_isRejected() {
        String err = usageError("demo", "--workload", "bitcoin").err();
        assertTrue(err.contains("--workload") && err.contains("HOTSET"), err);
    }

    @Test
    void modeAndWorkloadAreCaseInsensitive_andParseBeforeAnyConnection() {
        // valid values get past parsing: migrate then fails for want of a node, not of arguments
        MigctlRunner.Result r = MigctlRunner.run(counting, "migrate", "--mode", "hybrid", "--workload", "read_mostly",
                "--source", "127.0.0.1:1");
        assertEquals(Migctl.EXIT_UNREACHABLE, r.exit(), r.toString());
        assertEquals(1, opened.get());
    }

    @Test
    void negativeRetries_zeroReconnectTimeout_andZeroBatch_areRejected() {
        assertTrue(usageError("migrate", "--precopy-retries", "-1").err().contains("--precopy-retries"));
        assertTrue(usageError("migrate", "--reconnect-timeout-ms", "0").err().contains("--reconnect-timeout-ms"));
        assertTrue(usageError("migrate", "--batch-pages", "0").err().contains("--batch-pages"));
    }

    @Test
    void fractionOutOfRange_isRejected() {
        assertTrue(usageError("guest", "start", "--hot-set-fraction", "1.5").err().contains("--hot-set-fraction"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nohost", "host:", ":50051", "host:0", "host:70000", "host:http"})
    void malformedAddress_isRejected(String address) {
        assertTrue(usageError("info", "--source", address).err().contains("--source"));
    }

    @Test
    void setWithoutAnyParameter_isAUsageError() {
        assertTrue(usageError("set", "--migration", "m1").err().contains("nothing to set"));
    }

    @Test
    void missingRequiredOption_isAUsageError() {
        assertTrue(usageError("dirty-rate").err().contains("--guest"));
    }

    @Test
    void unknownCommand_andNoCommand_areUsageErrors() {
        assertTrue(usageError("teleport").err().contains("teleport"));
        assertTrue(usageError().err().contains("command"));
        assertTrue(usageError("guest").err().contains("start"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "demo", "guest", "guest start", "guest info", "guest stop", "migrate", "round",
            "watch", "info", "cancel", "set", "dirty-rate", "report", "health"})
    void everyCommandHasHelp(String command) {
        List<String> args = new java.util.ArrayList<>(command.isEmpty() ? List.of() : List.of(command.split(" ")));
        args.add("--help");
        MigctlRunner.Result r = MigctlRunner.run(counting, args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().startsWith("Usage: migctl" + (command.isEmpty() ? "" : " " + command)), r.out());
        assertEquals(0, opened.get());
    }
}
