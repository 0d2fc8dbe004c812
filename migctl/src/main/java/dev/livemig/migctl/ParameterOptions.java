package dev.livemig.migctl;

import dev.livemig.migctl.Choices.Mode;
import dev.livemig.migctl.Choices.Policy;
import dev.livemig.migctl.Choices.Tracker;
import dev.livemig.proto.v1.MigrationParameters;
import picocli.CommandLine.Option;

/** Parameters of a new migration (livemig.v1.MigrationParameters); unset ones take the node's defaults. */
public final class ParameterOptions {
    private static final long MIB = 1 << 20;

    @Option(names = "--mode", defaultValue = "PRECOPY",
            description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    Mode mode;

    @Option(names = "--downtime-limit-ms", paramLabel = "MS", converter = Choices.Positive.class,
            description = "Longest acceptable pause of the guest (node default: 300).")
    Long downtimeLimitMs;

    @Option(names = "--bandwidth-limit-mib", paramLabel = "MIB_PER_S", converter = Choices.NonNegative.class,
            description = "Cap on the page stream in MiB/s; 0 = unlimited (the default).")
    Long bandwidthLimitMib;

    @Option(names = "--max-rounds", converter = Choices.Positive.class,
            description = "Pre-copy rounds before the switchover policy's final action (node default: 30).")
    Long maxRounds;

    @Option(names = "--tracker", description = "Dirty tracker: ${COMPLETION-CANDIDATES} (node default: WP_ASYNC).")
    Tracker tracker;

    @Option(names = "--policy", description = "What to do when a round does not converge: "
            + "${COMPLETION-CANDIDATES} (node default: AUTO_CONVERGE, or POSTCOPY in HYBRID mode).")
    Policy policy;

    @Option(names = "--postcopy-after-rounds", paramLabel = "N", converter = Choices.Positive.class,
            description = "HYBRID: switch to post-copy after N rounds at the latest.")
    Long postcopyAfterRounds;

    @Option(names = "--batch-pages", paramLabel = "N", converter = Choices.Positive.class,
            description = "4 KiB pages per message on the page stream (node default: 256).")
    Long batchPages;

    @Option(names = "--precopy-retries", paramLabel = "N", converter = Choices.NonNegative.class,
            description = "Times a broken pre-copy connection is dialled again before the migration fails "
                    + "(default: 0, fail at once). See docs/faults.md.")
    Long precopyRetries;

    @Option(names = "--reconnect-timeout-ms", paramLabel = "MS", converter = Choices.Positive.class,
            description = "How long the source keeps redialling, and the target keeps a half-received guest "
                    + "waiting (node default: 10000).")
    Long reconnectTimeoutMs;

    @Option(names = "--manual-rounds", description = "Rounds advance only with 'migctl round'.")
    boolean manualRounds;

    @Option(names = "--no-verify",
            description = "Skip comparing every target page with the source's at pause time.")
    boolean noVerify;

    public MigrationParameters toProto() {
        MigrationParameters.Builder b = MigrationParameters.newBuilder().setMode(mode.proto())
                .setManualRounds(manualRounds).setVerifyPages(!noVerify);
        if (downtimeLimitMs != null) {
            b.setDowntimeLimitMs(downtimeLimitMs);
        }
        if (bandwidthLimitMib != null) {
            b.setBandwidthLimitBytesPerS(Math.multiplyExact(bandwidthLimitMib, MIB));
        }
        if (maxRounds != null) {
            b.setMaxRounds(Math.toIntExact(maxRounds));
        }
        if (tracker != null) {
            b.setTracker(tracker.proto());
        }
        if (policy != null) {
            b.setSwitchoverPolicy(policy.proto());
        }
        if (postcopyAfterRounds != null) {
            b.setPostcopyAfterRounds(Math.toIntExact(postcopyAfterRounds));
        }
        if (batchPages != null) {
            b.setBatchPages(Math.toIntExact(batchPages));
        }
        if (precopyRetries != null) {
            b.setPrecopyRetries(Math.toIntExact(precopyRetries));
        }
        if (reconnectTimeoutMs != null) {
            b.setReconnectTimeoutMs(reconnectTimeoutMs);
        }
        return b.build();
    }
}
