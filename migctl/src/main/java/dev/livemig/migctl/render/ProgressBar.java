package dev.livemig.migctl.render;

/** A text progress bar: {@code [#########...........]  45%}. */
public final class ProgressBar {
    private ProgressBar() {
    }

    /**
     * {@code done} of {@code total} in a bar of {@code width} cells; a total of 0 is
     * complete (nothing left to send).
     */
    public static String render(long done, long total, int width) {
        if (width < 1) {
            throw new IllegalArgumentException("width " + width);
        }
        double fraction = total <= 0 ? 1.0 : Math.max(0.0, Math.min(1.0, (double) done / total));
        int filled = (int) Math.floor(fraction * width);
        int percent = (int) Math.floor(fraction * 100);
        return "[" + "#".repeat(filled) + ".".repeat(width - filled) + "] " + Units.f("%3d%%", percent);
    }
}
