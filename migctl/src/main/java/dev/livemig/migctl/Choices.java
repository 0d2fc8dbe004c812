package dev.livemig.migctl;

import dev.livemig.proto.v1.DirtyTrackerKind;
import dev.livemig.proto.v1.MigrationMode;
import dev.livemig.proto.v1.SwitchoverPolicy;
import dev.livemig.proto.v1.Workload;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * The command line's names for the proto enums (the proto names without their type prefix,
 * matched case-insensitively), and converters that reject out-of-range numbers as usage
 * errors.
 */
public final class Choices {
    private Choices() {
    }

    public enum Mode {
        PRECOPY, POSTCOPY, HYBRID;

        public MigrationMode proto() {
            return MigrationMode.valueOf("MIGRATION_MODE_" + name());
        }
    }

    public enum GuestWorkload {
        UNIFORM, HOTSET, ZIPF, SEQUENTIAL, IDLE, READ_MOSTLY;

        public Workload proto() {
            return Workload.valueOf("WORKLOAD_" + name());
        }
    }

    public enum Tracker {
        WP_ASYNC, UFFD_WP_SYNC, SOFT_DIRTY;

        public DirtyTrackerKind proto() {
            return DirtyTrackerKind.valueOf("DIRTY_TRACKER_KIND_" + name());
        }
    }

    public enum Policy {
        WAIT, FORCE, AUTO_CONVERGE, DIRTY_LIMIT, POSTCOPY;

        public SwitchoverPolicy proto() {
            return SwitchoverPolicy.valueOf("SWITCHOVER_POLICY_" + name());
        }
    }

    private static long parseLong(String value) {
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + value + "' is not a whole number");
        }
    }

    /** Sizes, counts and durations that must be at least 1. */
    public static final class Positive implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            long v = parseLong(value);
            if (v <= 0) {
                throw new TypeConversionException("must be a positive number but was " + value);
            }
            return v;
        }
    }

    /** Rates and limits where 0 means "unlimited" or "engine default". */
    public static final class NonNegative implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            long v = parseLong(value);
            if (v < 0) {
                throw new TypeConversionException("must not be negative but was " + value);
            }
            return v;
        }
    }

    /** Fractions in [0, 1]. */
    public static final class Fraction implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            double v;
            try {
                v = Double.parseDouble(value.trim());
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + value + "' is not a number");
            }
            if (!(v >= 0 && v <= 1)) {
                throw new TypeConversionException("must be between 0 and 1 but was " + value);
            }
            return v;
        }
    }

    /** Percentages in [0, 99] (a 100% throttle would stop the guest). */
    public static final class Percent implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            long v = parseLong(value);
            if (v < 0 || v > 99) {
                throw new TypeConversionException("must be between 0 and 99 but was " + value);
            }
            return v;
        }
    }
}
