package dev.livemig.migration.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livemig.migration.MigrationControl.MigrationMode;
import dev.livemig.migration.guest.GuestLayout;
import dev.livemig.migration.guest.GuestLayout.RegionLayout;
import dev.livemig.migration.guest.GuestSpec.RegionKind;
import dev.livemig.migration.transport.PageTransfer;
import dev.livemig.migration.transport.PageTransfer.HandshakeRequest;
import dev.livemig.migration.transport.PageTransfer.HandshakeResponse;
import dev.livemig.mm.Kernel;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A source speaking another protocol version is refused at the handshake, and nothing is mapped. */
class HandshakeVersionTest {
    private static final long BASE = 0x7f00_0000_0000L;

    @ParameterizedTest(name = "version {0}")
    @ValueSource(ints = {0, PageTransfer.PROTOCOL_VERSION + 1, Integer.MAX_VALUE})
    void anotherProtocolVersion_isRefusedAndTheTargetStaysIdle(int version) {
        GuestLayout layout = new GuestLayout(1 << 20,
                List.of(new RegionLayout("anon", RegionKind.ANON, BASE, 1 << 20, 4096)), 1);
        try (Kernel kernel = new Kernel(new Kernel.Config()); IncomingMigration target = new IncomingMigration(kernel)) {
            HandshakeResponse r = target.handshake(new HandshakeRequest(version, "m", MigrationMode.PRECOPY, layout,
                    List.of()));
            assertFalse(r.accepted());
            assertEquals(PageTransfer.PROTOCOL_VERSION, r.protocolVersion());
            assertTrue(r.reason().contains("protocol version " + version), r.reason());
            assertNull(target.guest(), "no guest mapped for a refused handshake");
            // The same target still takes a migration that speaks its version.
            assertTrue(target.handshake(new HandshakeRequest(PageTransfer.PROTOCOL_VERSION, "m2",
                    MigrationMode.PRECOPY, layout, List.of())).accepted());
        }
    }
}
