package dev.livemig.migctl;

import com.google.protobuf.FieldMask;
import dev.livemig.migctl.Choices.Policy;
import dev.livemig.migctl.render.Units;
import dev.livemig.proto.v1.MigrationParameters;
import dev.livemig.proto.v1.SetParametersRequest;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code migctl set}: SetParameters with an update mask of exactly the options given, on a
 * running migration or (without --migration) on the node's defaults.
 */
@Command(name = "set", mixinStandardHelpOptions = true,
        description = {"Changes the tunable parameters of a running migration, or without --migration the "
                + "node's defaults for later migrations. Only the options given change."})
final class SetCommand implements Runnable {
    private static final long MIB = 1 << 20;

    @Spec
    CommandSpec spec;
    @Mixin
    NodeOptions node;
    @Option(names = "--migration", paramLabel = "ID", defaultValue = "",
            description = "Migration id (default: change the node's defaults).")
    String migrationId;
    @Option(names = "--downtime-limit-ms", paramLabel = "MS", converter = Choices.Positive.class)
    Long downtimeLimitMs;
    @Option(names = "--bandwidth-limit-mib", paramLabel = "MIB_PER_S", converter = Choices.NonNegative.class,
            description = "0 = unlimited.")
    Long bandwidthLimitMib;
    @Option(names = "--max-rounds", converter = Choices.Positive.class)
    Long maxRounds;
    @Option(names = "--policy", description = "${COMPLETION-CANDIDATES}")
    Policy policy;
    @Option(names = "--throttle-initial-percent", converter = Choices.Percent.class)
    Long throttleInitialPercent;
    @Option(names = "--throttle-increment-percent", converter = Choices.Percent.class)
    Long throttleIncrementPercent;
    @Option(names = "--dirty-limit", paramLabel = "PAGES_PER_S", converter = Choices.NonNegative.class,
            description = "DIRTY_LIMIT policy: per-vCPU write rate cap.")
    Long dirtyLimit;
    @Option(names = "--postcopy-after-rounds", paramLabel = "N", converter = Choices.Positive.class)
    Long postcopyAfterRounds;

    @Override
    public void run() {
        MigrationParameters.Builder p = MigrationParameters.newBuilder();
        FieldMask.Builder mask = FieldMask.newBuilder();
        if (downtimeLimitMs != null) {
            p.setDowntimeLimitMs(downtimeLimitMs);
            mask.addPaths("downtime_limit_ms");
        }
        if (bandwidthLimitMib != null) {
            p.setBandwidthLimitBytesPerS(Math.multiplyExact(bandwidthLimitMib, MIB));
            mask.addPaths("bandwidth_limit_bytes_per_s");
        }
        if (maxRounds != null) {
            p.setMaxRounds(Math.toIntExact(maxRounds));
            mask.addPaths("max_rounds");
        }
        if (policy != null) {
            p.setSwitchoverPolicy(policy.proto());
            mask.addPaths("switchover_policy");
        }
        if (throttleInitialPercent != null) {
            p.setThrottleInitialPercent(Math.toIntExact(throttleInitialPercent));
            mask.addPaths("throttle_initial_percent");
        }
        if (throttleIncrementPercent != null) {
            p.setThrottleIncrementPercent(Math.toIntExact(throttleIncrementPercent));
            mask.addPaths("throttle_increment_percent");
        }
        if (dirtyLimit != null) {
            p.setDirtyLimitPagesPerS(dirtyLimit);
            mask.addPaths("dirty_limit_pages_per_s");
        }
        if (postcopyAfterRounds != null) {
            p.setPostcopyAfterRounds(Math.toIntExact(postcopyAfterRounds));
            mask.addPaths("postcopy_after_rounds");
        }
        if (mask.getPathsCount() == 0) {
            throw new ParameterException(spec.commandLine(), "nothing to set: give at least one parameter option");
        }
        SetParametersRequest req = SetParametersRequest.newBuilder().setMigrationId(migrationId).setParameters(p)
                .setUpdateMask(mask).build();
        try (NodeClient source = node.source()) {
            MigrationParameters now = source.call("SetParameters", s -> s.setParameters(req));
            PrintWriter out = spec.commandLine().getOut();
            out.println((migrationId.isEmpty() ? "node defaults" : "migration " + migrationId) + " now:");
            out.println(Units.f("  mode %s, downtime limit %d ms, bandwidth limit %s, max rounds %d, policy %s",
                    Units.enumName(now.getMode(), "MIGRATION_MODE_"), now.getDowntimeLimitMs(),
                    now.getBandwidthLimitBytesPerS() == 0 ? "none" : Units.rate(now.getBandwidthLimitBytesPerS()),
                    now.getMaxRounds(), Units.enumName(now.getSwitchoverPolicy(), "SWITCHOVER_POLICY_")));
        }
    }
}
