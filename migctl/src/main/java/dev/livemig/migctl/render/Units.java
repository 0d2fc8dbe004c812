package dev.livemig.migctl.render;

import java.util.Locale;

/** Human-readable quantities for the terminal (binary units, as the guest sizes are). */
public final class Units {
    private static final double KIB = 1024;
    private static final double MIB = KIB * 1024;
    private static final double GIB = MIB * 1024;

    private Units() {
    }

    public static String bytes(double b) {
        if (b >= GIB) {
            return f("%.2f GiB", b / GIB);
        }
        if (b >= MIB) {
            return f("%.1f MiB", b / MIB);
        }
        if (b >= KIB) {
            return f("%.1f KiB", b / KIB);
        }
        return f("%.0f B", b);
    }

    public static String rate(double bytesPerS) {
        return bytes(bytesPerS) + "/s";
    }

    public static String ms(double ms) {
        return f("%.1f ms", ms);
    }

    public static String f(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }

    /** The proto enum value without its type prefix: MIGRATION_STATE_ACTIVE -> ACTIVE. */
    public static String enumName(Enum<?> e, String prefix) {
        String n = e.name();
        return n.startsWith(prefix) ? n.substring(prefix.length()) : n;
    }
}
