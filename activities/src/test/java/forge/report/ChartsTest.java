package forge.report;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChartsTest {
    private static List<double[]> pts(double... xy) {
        List<double[]> out = new ArrayList<>();
        for (int i = 0; i + 1 < xy.length; i += 2) {
            out.add(new double[] {xy[i], xy[i + 1]});
        }
        return out;
    }

    private static int count(String s, String needle) {
        int n = 0;
        for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    @Test
    void twoSeriesMakeAWellFormedChartWithAxesAndLegend() {
        String svg = Charts.lineChart("pretrain loss", "step", "loss", List.of(
                new Charts.Series("train loss", pts(10, 6.1, 20, 4.0, 30, 3.2, 40, 2.5)),
                new Charts.Series("validation loss", pts(0, 6.3, 40, 2.7))));
        assertTrue(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\""), svg);
        assertTrue(svg.strip().endsWith("</svg>"));
        assertEquals(count(svg, "<text"), count(svg, "</text>"), "balanced text elements");
        assertEquals(count(svg, "<g"), count(svg, "</g>"), "balanced groups");
        assertEquals(2, count(svg, "<polyline"), "one line per series");
        assertTrue(svg.contains(">train loss</text>") && svg.contains(">validation loss</text>"), "legend");
        assertTrue(svg.contains(">step</text>") && svg.contains(">loss</text>"), "axis labels");
        assertTrue(count(svg, "text-anchor=\"end\"") >= 3, "y ticks");
        assertFalse(svg.contains("NaN") || svg.contains("Infinity"), svg);
        // Every drawn coordinate is inside the canvas.
        Matcher m = Pattern.compile("(-?\\d+\\.\\d),(-?\\d+\\.\\d)").matcher(svg);
        int n = 0;
        while (m.find()) {
            double x = Double.parseDouble(m.group(1));
            double y = Double.parseDouble(m.group(2));
            assertTrue(x >= 0 && x <= Charts.WIDTH && y >= 0 && y <= Charts.HEIGHT, m.group());
            n++;
        }
        assertEquals(6, n);
    }

    @Test
    void emptyAndNaNDataDegradeGracefully() {
        for (List<Charts.Series> series : List.<List<Charts.Series>>of(
                List.of(),
                List.of(new Charts.Series("a", List.of())),
                List.of(new Charts.Series("a", null), new Charts.Series("b", pts(Double.NaN, Double.NaN))))) {
            String svg = Charts.lineChart("t", "x", "y", series);
            assertTrue(svg.startsWith("<svg") && svg.strip().endsWith("</svg>"), svg);
            assertTrue(svg.contains("no data"), svg);
            assertFalse(svg.contains("NaN"), svg);
        }
        assertTrue(Charts.lineChart(null, null, null, null).contains("no data"));
    }

    @Test
    void gapsAtNaNAndSinglePointsAndFlatLines() {
        String svg = Charts.lineChart("t", "x", "y", List.of(
                new Charts.Series("gappy", pts(0, 1, 1, 2, 2, Double.NaN, 3, 2, 4, Double.POSITIVE_INFINITY, 5, 3)),
                new Charts.Series("flat", pts(0, 2, 5, 2))));
        assertFalse(svg.contains("NaN") || svg.contains("Infinity"), svg);
        // "gappy" splits into [0..1], [3] (a marker only), [5] (a marker only); "flat" is one line.
        assertEquals(2, count(svg, "<polyline"), svg);
        String one = Charts.lineChart("t", "x", "y", List.of(new Charts.Series("one", pts(7, 0.5))));
        assertTrue(one.contains("<circle"), one);
        assertFalse(one.contains("NaN"), one);
    }

    @Test
    void namesAreEscaped() {
        String svg = Charts.lineChart("<b>&", "x", "y", List.of(new Charts.Series("<script>alert(1)</script>",
                pts(0, 1, 1, 2), "\"red\" onload=\"x\"")));
        assertFalse(svg.contains("<script>"), svg);
        assertFalse(svg.contains("\"red\" onload"), svg);
        assertTrue(svg.contains("&lt;b&gt;&amp;"), svg);
    }

    @Test
    void ticksAreNiceAndCoverTheRange() {
        double[] t = Charts.ticks(0.37, 6.2, 6);
        assertTrue(t[0] <= 0.37 && t[t.length - 1] >= 6.2);
        assertEquals(1.0, t[1] - t[0], 1e-12);
        assertEquals("0.25", Charts.label(0.25, 0.25));
        assertEquals("2,000", Charts.label(2000, 250));
    }
}
