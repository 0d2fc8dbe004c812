package dev.livemig.migctl;

import dev.livemig.proto.v1.GuestSpec;
import dev.livemig.proto.v1.MigrationInfo;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.Workload;

/**
 * One real migration between the real nodes in this JVM ({@link LocalNodes}), returned as
 * the source node serves it (GetInfo), so migctl's rendering and reports are tested on real
 * records through the production codec.
 */
public final class InProcessMigration {
    private static final long MIB = 1 << 20;

    private InProcessMigration() {
    }

    /** A hot-set guest that cannot converge under a 1 ms limit: pre-copy rounds, then post-copy. */
    public static GuestSpec hybridGuest() {
        return GuestSpec.newBuilder().setSizeBytes(16 * MIB).setWorkload(Workload.WORKLOAD_HOTSET)
                .setHotSetFraction(0.1).setHotSetWriteFraction(0.9).setWriteRatePagesPerS(20_000).setVcpuCount(2)
                .setSeed(7).build();
    }

    public static MigrationParameters hybridParameters() {
        return MigrationParameters.newBuilder().setMode(MigrationMode.MIGRATION_MODE_HYBRID).setVerifyPages(true)
                .setDowntimeLimitMs(1).setPostcopyAfterRounds(3).setBandwidthLimitBytesPerS(32 * MIB).build();
    }

    public static MigrationInfo hybrid() throws Exception {
        try (LocalNodes nodes = new LocalNodes()) {
            return nodes.migrate(hybridGuest(), hybridParameters(), "in-process");
        }
    }
}
