package dev.livemig.bench.e2e;

import static dev.livemig.bench.e2e.MigrationBench.fmt;

import java.util.ArrayList;
import java.util.List;

/**
 * A small self-contained SVG line chart: panels side by side in a 2-column grid, each
 * with a categorical x axis, a linear y axis from zero and one polyline per series.
 */
final class SvgChart {
    private static final int W = 440;
    private static final int H = 300;
    private static final int LEFT = 56;
    private static final int TOP = 40;
    private static final int PW = W - LEFT - 24;
    private static final int PH = H - TOP - 64;
    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

    record Series(String name, double[] values) {
    }

    private record Panel(String title, String xLabel, String yLabel, String[] x, Series[] series) {
    }

    private final String title;
    private final List<Panel> panels = new ArrayList<>();

    SvgChart(String title) {
        this.title = title;
    }

    void panel(String panelTitle, String xLabel, String yLabel, String[] x, Series... series) {
        panels.add(new Panel(panelTitle, xLabel, yLabel, x, series));
    }

    String render() {
        int rows = (panels.size() + 1) / 2;
        StringBuilder s = new StringBuilder();
        s.append(fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                + "font-size=\"11\">%n", 2 * W, rows * H + 30));
        s.append(fmt("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%n"));
        s.append(fmt("<text x=\"%d\" y=\"20\" font-size=\"14\" text-anchor=\"middle\">%s</text>%n", W, esc(title)));
        for (int i = 0; i < panels.size(); i++) {
            s.append(fmt("<g transform=\"translate(%d,%d)\">%n", (i % 2) * W, 30 + (i / 2) * H));
            panel(s, panels.get(i));
            s.append("</g>\n");
        }
        return s.append("</svg>\n").toString();
    }

    private static void panel(StringBuilder s, Panel p) {
        double max = 0;
        for (Series se : p.series) {
            for (double v : se.values) {
                max = Math.max(max, v);
            }
        }
        double top = niceCeiling(max);
        s.append(fmt("<text x=\"%d\" y=\"%d\" font-size=\"12\" font-weight=\"bold\">%s</text>%n", LEFT, TOP - 22,
                esc(p.title)));
        s.append(fmt("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>%n", LEFT, TOP,
                PW, PH));
        for (int t = 0; t <= 4; t++) {
            double v = top * t / 4;
            int y = TOP + PH - (int) Math.round(PH * t / 4.0);
            s.append(fmt("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>%n", LEFT, y, LEFT + PW, y));
            s.append(fmt("<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>%n", LEFT - 4, y + 4, label(v)));
        }
        int n = p.x.length;
        for (int i = 0; i < n; i++) {
            s.append(fmt("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", xAt(i, n), TOP + PH + 16,
                    esc(p.x[i])));
        }
        s.append(fmt("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", LEFT + PW / 2, TOP + PH + 34,
                esc(p.xLabel)));
        s.append(fmt("<text x=\"12\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 12 %d)\">%s</text>%n",
                TOP + PH / 2, TOP + PH / 2, esc(p.yLabel)));
        for (int k = 0; k < p.series.length; k++) {
            Series se = p.series[k];
            String color = COLORS[k % COLORS.length];
            StringBuilder pts = new StringBuilder();
            for (int i = 0; i < se.values.length; i++) {
                int x = xAt(i, n);
                int y = TOP + PH - (int) Math.round(PH * se.values[i] / top);
                pts.append(x).append(',').append(y).append(' ');
                s.append(fmt("<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"%s\"/>%n", x, y, color));
            }
            s.append(fmt("<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>%n",
                    pts.toString().trim(), color));
            int ly = TOP + PH + 50;
            int lx = LEFT + k * 120;
            s.append(fmt("<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>%n", lx, ly - 9, color));
            s.append(fmt("<text x=\"%d\" y=\"%d\">%s</text>%n", lx + 14, ly, esc(se.name)));
        }
    }

    private static int xAt(int i, int n) {
        return LEFT + (n == 1 ? PW / 2 : (int) Math.round(12 + (PW - 24) * i / (double) (n - 1)));
    }

    /** The smallest 1, 2 or 5 times a power of ten at or above {@code v}. */
    static double niceCeiling(double v) {
        if (v <= 0) {
            return 1;
        }
        double p = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * p >= v) {
                return m * p;
            }
        }
        return 10 * p;
    }

    private static String label(double v) {
        return v == Math.rint(v) ? fmt("%.0f", v) : fmt("%.3g", v);
    }

    private static String esc(String t) {
        return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
