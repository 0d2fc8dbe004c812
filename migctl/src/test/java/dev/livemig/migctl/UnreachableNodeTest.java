package dev.livemig.migctl;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.net.ServerSocket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every command that talks to a node, pointed at a loopback port nobody listens on: the
 * one line "cannot reach source node at host:port" and exit code 3, over the real Netty
 * transport.
 */
class UnreachableNodeTest {
    private static String address;

    @BeforeAll
    static void closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            address = "127.0.0.1:" + s.getLocalPort();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"guest start", "guest info", "guest stop --guest g1", "migrate", "round --migration m1",
            "watch", "info", "info --json", "cancel", "set --downtime-limit-ms 100", "dirty-rate --guest g1",
            "report --out target/unreached", "health"})
    void commandAgainstAClosedPort_failsWithOneClearLine(String command) {
        String[] args = (command + " --source " + address).split(" ");
        MigctlRunner.Result r = MigctlRunner.run(args);
        assertEquals(Migctl.EXIT_UNREACHABLE, r.exit(), r::toString);
        assertEquals("migctl: cannot reach source node at " + address + System.lineSeparator(), r.err());
    }

    @org.junit.jupiter.api.Test
    void healthOfATarget_namesTheTarget() {
        MigctlRunner.Result r = MigctlRunner.run("health", "--target", address);
        assertEquals(Migctl.EXIT_UNREACHABLE, r.exit());
        assertEquals("migctl: cannot reach target node at " + address + System.lineSeparator(), r.err());
    }
}
