package forge.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** What both reports share: escaping, number formatting, the page frame and the headline metrics table. */
final class Html {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Shared by every page; no external CSS, fonts or scripts, so the file works offline and from disk. */
    static final String STYLE = """
            body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:960px;\
            padding:0 1em;color:#222;line-height:1.4}
            h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
            .sub{color:#666;margin-top:0}
            table{border-collapse:collapse;margin:.5em 0}
            th,td{padding:.25em .8em;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
            td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
            th{background:#f6f6f6}
            pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:.6em;overflow:auto;white-space:pre-wrap}
            code{background:#f6f8fa;padding:0 .2em}
            .state-COMPLETED{color:#1a7f37}.state-FAILED{color:#cf222e}.state-CANCELLED{color:#9a6700}
            .error{color:#cf222e}
            svg{max-width:100%;height:auto}
            """;

    private Html() {}

    /** Text safe in element content and in double- or single-quoted attributes. Null is empty. */
    static String esc(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> {
                    // Control characters other than tab and newlines are invalid in HTML and in SVG.
                    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
                        b.append('\uFFFD');
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }

    static String pageStart(String title) {
        return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                + "<title>" + esc(title) + "</title>\n<style>\n" + STYLE + "</style>\n</head>\n<body>\n";
    }

    static String pageEnd() {
        return "</body>\n</html>\n";
    }

    static String prettyJson(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return "";
        }
        try {
            return JSON.writeValueAsString(node);
        } catch (Exception e) {
            return node.toString();
        }
    }

    /** A number for people: percentages for accuracies, grouped integers for counts, four significant digits else. */
    static String number(String key, Double v) {
        if (v == null) {
            return "";
        }
        if (Double.isNaN(v)) {
            return "n/a";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "∞" : "-∞";
        }
        String k = key == null ? "" : key.toLowerCase(Locale.ROOT);
        if (k.contains("accuracy") || k.equals("truth") || k.equals("truthsft") || k.equals("truthppo")) {
            return String.format(Locale.ROOT, "%.1f%%", 100 * v);
        }
        if (k.endsWith("seconds")) {
            return String.format(Locale.ROOT, "%.1f s", v);
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return String.format(Locale.ROOT, "%,d", (long) (double) v);
        }
        double a = Math.abs(v);
        if (a >= 1000) {
            return String.format(Locale.ROOT, "%,.1f", v);
        }
        if (a >= 0.01) {
            return String.format(Locale.ROOT, "%.4f", v);
        }
        return String.format(Locale.ROOT, "%.3g", v);
    }

    /** One row of the headline table: a figure alone, or a before → after pair. */
    record Row(String name, String beforeKey, Double before, String afterKey, Double after) {
        boolean paired() {
            return beforeKey != null && afterKey != null;
        }
    }

    /**
     * Pairs {@code valLossStart}/{@code valLossEnd}, {@code XBefore}/{@code XAfter}, {@code XBefore}/{@code X} and
     * {@code XSft}/{@code XPpo}
     * into before → after rows; every other figure is a row of its own, in the map's order.
     */
    static List<Row> rows(Map<String, Double> metrics) {
        Map<String, Double> m = metrics == null ? Map.of() : metrics;
        Set<String> used = new LinkedHashSet<>();
        Map<String, Row> byFirstKey = new LinkedHashMap<>();
        for (String k : m.keySet()) {
            String before = null;
            String after = null;
            String name = null;
            if (k.equals("valLossStart") && m.containsKey("valLossEnd")) {
                before = k;
                after = "valLossEnd";
                name = "valLoss";
            } else if (k.endsWith("Before") && k.length() > "Before".length()) {
                String base = k.substring(0, k.length() - "Before".length());
                if (m.containsKey(base + "After")) {
                    before = k;
                    after = base + "After";
                    name = base;
                } else if (m.containsKey(base)) {
                    before = k;
                    after = base;
                    name = base;
                }
            }
            if (k.endsWith("Sft") && m.containsKey(k.substring(0, k.length() - 3) + "Ppo")) {
                // PPO's figures of the SFT policy it started from and of the policy it trained.
                before = k;
                name = k.substring(0, k.length() - 3);
                after = name + "Ppo";
            }
            if (before != null) {
                used.add(before);
                used.add(after);
                byFirstKey.put(before, new Row(name, before, m.get(before), after, m.get(after)));
            }
        }
        List<Row> rows = new ArrayList<>();
        // Pairs first (the headline), then single figures.
        rows.addAll(byFirstKey.values());
        for (Map.Entry<String, Double> e : m.entrySet()) {
            if (!used.contains(e.getKey())) {
                rows.add(new Row(e.getKey(), null, null, e.getKey(), e.getValue()));
            }
        }
        return rows;
    }

    /** The headline table; {@code extra} rows (already formatted name → value) come after the pairs. */
    static String metricsTable(Map<String, Double> metrics, Map<String, String> extra) {
        List<Row> rows = rows(metrics);
        StringBuilder b = new StringBuilder();
        b.append("<table class=\"metrics\">\n<thead><tr><th>metric</th><th>before</th><th></th><th>after</th>"
                + "</tr></thead>\n<tbody>\n");
        boolean extraDone = false;
        for (Row r : rows) {
            if (!r.paired() && !extraDone) {
                appendExtra(b, extra);
                extraDone = true;
            }
            b.append("<tr><td>").append(esc(r.name())).append("</td>");
            if (r.paired()) {
                b.append("<td class=\"num\">").append(esc(number(r.name(), r.before()))).append("</td><td>→</td>")
                        .append("<td class=\"num\">").append(esc(number(r.name(), r.after()))).append("</td>");
            } else {
                b.append("<td></td><td></td><td class=\"num\">").append(esc(number(r.name(), r.after())))
                        .append("</td>");
            }
            b.append("</tr>\n");
        }
        if (!extraDone) {
            appendExtra(b, extra);
        }
        b.append("</tbody>\n</table>\n");
        return b.toString();
    }

    private static void appendExtra(StringBuilder b, Map<String, String> extra) {
        if (extra == null) {
            return;
        }
        for (Map.Entry<String, String> e : extra.entrySet()) {
            b.append("<tr><td>").append(esc(e.getKey())).append("</td><td></td><td></td><td class=\"num\">")
                    .append(esc(e.getValue())).append("</td></tr>\n");
        }
    }

    static String samples(List<String> samples) {
        if (samples == null || samples.isEmpty()) {
            return "<p class=\"sub\">no samples</p>\n";
        }
        StringBuilder b = new StringBuilder();
        for (String s : samples) {
            b.append("<pre class=\"sample\">").append(esc(s)).append("</pre>\n");
        }
        return b.toString();
    }
}
