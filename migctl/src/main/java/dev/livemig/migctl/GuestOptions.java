package dev.livemig.migctl;

import dev.livemig.migctl.Choices.GuestWorkload;
import dev.livemig.proto.v1.GuestSpec;
import picocli.CommandLine.Option;

/** The guest a command creates: size, workload and write rate (livemig.v1.GuestSpec). */
public final class GuestOptions {
    private static final long MIB = 1 << 20;

    @Option(names = "--guest-mib", paramLabel = "MIB", defaultValue = "1024", converter = Choices.Positive.class,
            description = "Guest memory in MiB, one anonymous region (default: ${DEFAULT-VALUE}).")
    long guestMib;

    @Option(names = "--workload", defaultValue = "HOTSET",
            description = "What the vCPUs do to memory: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    GuestWorkload workload;

    @Option(names = "--dirty-rate", paramLabel = "PAGES_PER_S", defaultValue = "20000",
            converter = Choices.NonNegative.class,
            description = "Guest write rate over all vCPUs in pages/s; 0 = as fast as the vCPUs go "
                    + "(default: ${DEFAULT-VALUE}).")
    long dirtyRate;

    @Option(names = "--vcpus", defaultValue = "2", converter = Choices.Positive.class,
            description = "vCPU threads (default: ${DEFAULT-VALUE}).")
    long vcpus;

    @Option(names = "--hot-set-fraction", defaultValue = "0.1", converter = Choices.Fraction.class,
            description = "HOTSET: fraction of the pages in the hot set (default: ${DEFAULT-VALUE}).")
    double hotSetFraction;

    @Option(names = "--hot-set-write-fraction", defaultValue = "0.9", converter = Choices.Fraction.class,
            description = "HOTSET: fraction of the writes that go to the hot set (default: ${DEFAULT-VALUE}).")
    double hotSetWriteFraction;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the guest's contents and writes "
            + "(default: ${DEFAULT-VALUE}).")
    long seed;

    public GuestSpec toSpec() {
        if (guestMib > Long.MAX_VALUE / MIB) {
            throw new IllegalArgumentException("--guest-mib " + guestMib + " is too large");
        }
        return GuestSpec.newBuilder().setSizeBytes(guestMib * MIB).setWorkload(workload.proto())
                .setWriteRatePagesPerS(dirtyRate).setVcpuCount((int) Math.min(Integer.MAX_VALUE, vcpus))
                .setSeed(seed).setHotSetFraction(hotSetFraction).setHotSetWriteFraction(hotSetWriteFraction)
                .setZipfExponent(0.99).setReadFraction(0.9).build();
    }
}
