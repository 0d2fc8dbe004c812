package dev.livemig.migctl;

import dev.livemig.migration.MigrationControl.MigrationParameters;
import dev.livemig.migration.MigrationControl.MigrationState;
import dev.livemig.migration.guest.Guest;
import dev.livemig.migration.guest.GuestSpec;
import dev.livemig.migration.source.OutgoingMigration;
import dev.livemig.migration.target.IncomingMigration;
import dev.livemig.migration.transport.InMemoryPageChannel;
import dev.livemig.mm.Kernel;
import dev.livemig.proto.v1.MigrationInfo;

/**
 * Runs one real migration between two simulated kernels in this JVM (the engine over
 * {@link InMemoryPageChannel}) and returns its MigrationInfo as the proto message a node
 * would serve, so migctl's rendering and reports are tested on real records.
 */
public final class InProcessMigration {
    private static final long MIB = 1 << 20;
    private static final long TIMEOUT_MS = 120_000;

    private InProcessMigration() {
    }

    /** A hot-set guest that cannot converge under a 1 ms limit: pre-copy rounds, then post-copy. */
    public static MigrationInfo hybrid() throws InterruptedException {
        GuestSpec spec = GuestSpec.builder().sizeBytes(16 * MIB).workload(GuestSpec.Workload.HOTSET)
                .hotSet(0.1, 0.9).writeRatePagesPerS(20_000).vcpuCount(2).seed(7).build();
        MigrationParameters p = MigrationParameters.of(dev.livemig.migration.MigrationControl.MigrationMode.HYBRID)
                .withVerifyPages(true).withDowntimeLimitMs(1).withPostcopyAfterRounds(3)
                .withBandwidthLimitBytesPerS(32 * MIB);
        return run(spec, p);
    }

    public static MigrationInfo run(GuestSpec spec, MigrationParameters p) throws InterruptedException {
        try (Kernel sourceKernel = new Kernel(new Kernel.Config().softDirty(true));
             Kernel targetKernel = new Kernel(new Kernel.Config().softDirty(true))) {
            Guest source = Guest.create(sourceKernel, spec);
            IncomingMigration target = new IncomingMigration(targetKernel);
            InMemoryPageChannel channel = new InMemoryPageChannel(target);
            try {
                source.start();
                OutgoingMigration m = new OutgoingMigration("m-report", "g-report", "in-process", source, channel, p);
                m.start();
                MigrationState s = m.awaitFinal(TIMEOUT_MS);
                if (s != MigrationState.COMPLETED) {
                    throw new AssertionError("migration ended " + s + ": " + m.error());
                }
                return EngineRecords.info(m.info());
            } finally {
                source.close();
                target.close();
                channel.close();
            }
        }
    }
}
