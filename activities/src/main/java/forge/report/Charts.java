package forge.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Dependency-free SVG line charts for the run reports: several series over a shared linear x and y axis, with
 * ticks, grid lines and a legend. The result is an inline {@code <svg>} element, which a browser shows as an image
 * with no script, stylesheet or network access. Points with a non-finite coordinate are gaps in their line; a
 * chart with no finite point at all says so instead of drawing axes around nothing.
 */
public final class Charts {
    /** Colours that stay distinguishable for common colour-vision deficiencies (Okabe–Ito). */
    private static final String[] PALETTE = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
            "#000000", "#F0E442"};
    static final int WIDTH = 720;
    static final int HEIGHT = 340;
    private static final int LEFT = 64;
    private static final int RIGHT = 28;
    private static final int TOP = 28;
    private static final int BOTTOM = 48;

    /**
     * One line.
     *
     * @param points [x, y] pairs in x order; entries that are null or shorter than 2 are ignored
     * @param color  a CSS colour, or null for the next colour of the palette
     */
    public record Series(String name, List<double[]> points, String color) {
        public Series(String name, List<double[]> points) {
            this(name, points, null);
        }
    }

    private Charts() {}

    /** A line chart of {@code series}; never throws for odd data (null, empty, NaN, infinities, one point). */
    public static String lineChart(String title, String xLabel, String yLabel, List<Series> series) {
        List<Series> all = series == null ? List.of() : series.stream().filter(s -> s != null).toList();
        double xMin = Double.POSITIVE_INFINITY;
        double xMax = Double.NEGATIVE_INFINITY;
        double yMin = Double.POSITIVE_INFINITY;
        double yMax = Double.NEGATIVE_INFINITY;
        for (Series s : all) {
            for (double[] p : points(s)) {
                if (finite(p)) {
                    xMin = Math.min(xMin, p[0]);
                    xMax = Math.max(xMax, p[0]);
                    yMin = Math.min(yMin, p[1]);
                    yMax = Math.max(yMax, p[1]);
                }
            }
        }
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" "
                + "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
                WIDTH, HEIGHT, WIDTH, HEIGHT));
        b.append("<title>").append(Html.esc(title)).append("</title>\n");
        b.append("<rect x=\"0\" y=\"0\" width=\"").append(WIDTH).append("\" height=\"").append(HEIGHT)
                .append("\" fill=\"#ffffff\"/>\n");
        if (title != null && !title.isEmpty()) {
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">",
                    LEFT)).append(Html.esc(title)).append("</text>\n");
        }
        if (xMin > xMax) {
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#666\">"
                    + "no data</text>\n", WIDTH / 2, HEIGHT / 2));
            return b.append("</svg>\n").toString();
        }
        double[] xr = widen(xMin, xMax);
        double[] yr = widen(yMin, yMax);
        double[] xTicks = ticks(xr[0], xr[1], 8);
        double[] yTicks = ticks(yr[0], yr[1], 6);
        // The axes span whole ticks, so the outermost labels sit on the frame.
        xr = new double[] {Math.min(xr[0], xTicks[0]), Math.max(xr[1], xTicks[xTicks.length - 1])};
        yr = new double[] {Math.min(yr[0], yTicks[0]), Math.max(yr[1], yTicks[yTicks.length - 1])};
        Frame f = new Frame(xr[0], xr[1], yr[0], yr[1]);
        int plotRight = WIDTH - RIGHT;
        int plotBottom = HEIGHT - BOTTOM;

        b.append("<g class=\"grid\" stroke=\"#e5e5e5\" stroke-width=\"1\">\n");
        for (double t : yTicks) {
            double y = f.y(t);
            b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", LEFT, y,
                    plotRight, y));
        }
        for (double t : xTicks) {
            double x = f.x(t);
            b.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", x, TOP, x,
                    plotBottom));
        }
        b.append("</g>\n");
        b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                + "stroke=\"#888\"/>\n", LEFT, TOP, plotRight - LEFT, plotBottom - TOP));

        double yStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
        double xStep = xTicks.length > 1 ? xTicks[1] - xTicks[0] : 1;
        b.append("<g class=\"ticks\" fill=\"#444\">\n");
        for (double t : yTicks) {
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                    LEFT - 6, f.y(t) + 4, Html.esc(label(t, yStep))));
        }
        for (double t : xTicks) {
            b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                    f.x(t), plotBottom + 16, Html.esc(label(t, xStep))));
        }
        b.append("</g>\n");
        if (xLabel != null && !xLabel.isEmpty()) {
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#444\">",
                    (LEFT + plotRight) / 2, HEIGHT - 10)).append(Html.esc(xLabel)).append("</text>\n");
        }
        if (yLabel != null && !yLabel.isEmpty()) {
            int cy = (TOP + plotBottom) / 2;
            b.append(String.format(Locale.ROOT, "<text x=\"14\" y=\"%d\" text-anchor=\"middle\" fill=\"#444\" "
                    + "transform=\"rotate(-90 14 %d)\">", cy, cy)).append(Html.esc(yLabel)).append("</text>\n");
        }

        int legendY = TOP + 14;
        for (int i = 0; i < all.size(); i++) {
            Series s = all.get(i);
            String color = Html.esc(s.color() != null ? s.color() : PALETTE[i % PALETTE.length]);
            b.append("<g class=\"series\" fill=\"none\" stroke=\"").append(color).append("\" stroke-width=\"2\">\n");
            List<double[]> pts = points(s);
            int finiteCount = 0;
            for (double[] p : pts) {
                if (finite(p)) {
                    finiteCount++;
                }
            }
            for (List<double[]> run : runs(pts)) {
                if (run.size() == 1) {
                    continue; // drawn as a marker below
                }
                b.append("<polyline points=\"");
                for (int k = 0; k < run.size(); k++) {
                    double[] p = run.get(k);
                    b.append(k == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.1f,%.1f", f.x(p[0]), f.y(p[1])));
                }
                b.append("\"/>\n");
            }
            // Sparse series (validation every few hundred steps) and isolated points get markers.
            if (finiteCount <= 40) {
                for (double[] p : pts) {
                    if (finite(p)) {
                        b.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                                f.x(p[0]), f.y(p[1]), color));
                    }
                }
            }
            b.append("</g>\n");
            String name = s.name() == null ? "series " + (i + 1) : s.name();
            int lx = plotRight - 170;
            b.append(String.format(Locale.ROOT, "<g class=\"legend\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                            + "stroke=\"%s\" stroke-width=\"3\"/><text x=\"%d\" y=\"%d\" fill=\"#222\">",
                    lx, legendY - 4, lx + 20, legendY - 4, color, lx + 26, legendY))
                    .append(Html.esc(name + (finiteCount == 0 ? " (no data)" : ""))).append("</text></g>\n");
            legendY += 16;
        }
        return b.append("</svg>\n").toString();
    }

    private static List<double[]> points(Series s) {
        if (s.points() == null) {
            return List.of();
        }
        List<double[]> out = new ArrayList<>(s.points().size());
        for (double[] p : s.points()) {
            if (p != null && p.length >= 2) {
                out.add(p);
            }
        }
        return out;
    }

    /** Consecutive finite points; a non-finite one ends a run, leaving a gap in the line. */
    private static List<List<double[]>> runs(List<double[]> pts) {
        List<List<double[]>> runs = new ArrayList<>();
        List<double[]> current = new ArrayList<>();
        for (double[] p : pts) {
            if (finite(p)) {
                current.add(p);
            } else if (!current.isEmpty()) {
                runs.add(current);
                current = new ArrayList<>();
            }
        }
        if (!current.isEmpty()) {
            runs.add(current);
        }
        return runs;
    }

    private static boolean finite(double[] p) {
        return Double.isFinite(p[0]) && Double.isFinite(p[1]);
    }

    /** A range that is not empty: one value becomes an interval around it. */
    private static double[] widen(double min, double max) {
        if (max > min) {
            return new double[] {min, max};
        }
        double pad = min == 0 ? 1 : Math.abs(min) * 0.1;
        return new double[] {min - pad, max + pad};
    }

    /** About {@code target} evenly spaced "nice" values (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi]. */
    static double[] ticks(double lo, double hi, int target) {
        double span = hi - lo;
        if (!(span > 0) || !Double.isFinite(span)) {
            return new double[] {lo};
        }
        double raw = span / Math.max(1, target);
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double norm = raw / mag;
        double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
        double first = Math.floor(lo / step) * step;
        double last = Math.ceil(hi / step) * step;
        int n = (int) Math.round((last - first) / step) + 1;
        if (n < 2 || n > 100) {
            return new double[] {lo, hi};
        }
        double[] t = new double[n];
        for (int i = 0; i < n; i++) {
            t[i] = first + i * step;
            if (Math.abs(t[i]) < step * 1e-9) {
                t[i] = 0; // no "-0" labels
            }
        }
        return t;
    }

    /** A tick label with as many decimals as the tick step needs. */
    static String label(double v, double step) {
        int decimals = 0;
        if (step > 0 && step < 1) {
            decimals = (int) Math.min(10, Math.ceil(-Math.log10(step) - 1e-9));
            if (Math.abs(step * Math.pow(10, decimals) - Math.rint(step * Math.pow(10, decimals))) > 1e-6) {
                decimals++; // 0.25 needs two
            }
        }
        if (Math.abs(v) >= 1e6 && decimals == 0) {
            return String.format(Locale.ROOT, "%.3g", v);
        }
        return String.format(Locale.ROOT, "%,." + decimals + "f", v);
    }

    /** Data coordinates to SVG coordinates. */
    private record Frame(double x0, double x1, double y0, double y1) {
        double x(double v) {
            return LEFT + (v - x0) / (x1 - x0) * (WIDTH - RIGHT - LEFT);
        }

        double y(double v) {
            return (HEIGHT - BOTTOM) - (v - y0) / (y1 - y0) * (HEIGHT - BOTTOM - TOP);
        }
    }
}
