package forge.report;

import forge.train.TrainState;
import forge.workflow.PipelineResult;
import forge.workflow.StageResult;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code report.html} of a run, next to {@code summary.json}: an overview of every stage, then per stage its
 * headline figures, its loss curves (when its {@code state.json} could be read) and a link to the stage's own
 * {@code final/report.html}.
 */
public final class PipelineReport {
    private PipelineReport() {}

    /** With the default links: {@code <stage>/final/report.html} for each stage that has a {@code final/}. */
    public static String html(PipelineResult result, Map<String, TrainState> stageStates) {
        Map<String, String> links = new LinkedHashMap<>();
        for (Map.Entry<String, StageResult> e : stages(result).entrySet()) {
            String cp = e.getValue() == null ? null : e.getValue().checkpoint();
            if (cp != null && cp.replaceAll("/+$", "").endsWith("/" + e.getKey() + "/final")) {
                links.put(e.getKey(), encodePath(e.getKey()) + "/final/report.html");
            }
        }
        return html(result, stageStates, links);
    }

    /**
     * @param stageStates each stage's final {@code state.json}, for its loss curves; stages without one get none
     * @param stageLinks  each stage's report as an href relative to this page; stages without one get no link
     */
    public static String html(PipelineResult result, Map<String, TrainState> stageStates,
                              Map<String, String> stageLinks) {
        Map<String, TrainState> states = stageStates == null ? Map.of() : stageStates;
        Map<String, String> links = stageLinks == null ? Map.of() : stageLinks;
        Map<String, StageResult> stages = stages(result);
        String runId = result.runId() == null ? "run" : result.runId();
        StringBuilder b = new StringBuilder(32_768);
        b.append(Html.pageStart(runId + " · LLM Forge"));
        b.append("<h1>").append(Html.esc(runId)).append("</h1>\n");
        String state = result.state() == null ? "UNKNOWN" : result.state().name();
        b.append(String.format(Locale.ROOT, "<p class=\"sub\"><strong class=\"state-%s\">%s</strong> in %.1f s · %s</p>\n",
                Html.esc(state), Html.esc(state), result.wallSeconds(),
                Html.esc(String.join(" → ", stages.keySet()))));
        if (result.error() != null && !result.error().isEmpty()) {
            b.append("<pre class=\"error\">").append(Html.esc(result.error())).append("</pre>\n");
        }

        b.append("<h2>Stages</h2>\n<table>\n<thead><tr><th>stage</th><th>state</th><th>steps</th><th>wall</th>"
                + "<th>tokens/s</th><th>validation loss</th><th>report</th></tr></thead>\n<tbody>\n");
        for (Map.Entry<String, StageResult> e : stages.entrySet()) {
            String name = e.getKey();
            StageResult r = e.getValue();
            String link = links.get(name);
            b.append("<tr><td><a href=\"#stage-").append(Html.esc(anchor(name))).append("\">").append(Html.esc(name))
                    .append("</a></td>");
            if (r == null) {
                b.append("<td colspan=\"6\"></td></tr>\n");
                continue;
            }
            Map<String, Double> m = r.metrics();
            String loss = m.containsKey("valLossStart") && m.containsKey("valLossEnd")
                    ? Html.number("valLoss", m.get("valLossStart")) + " → " + Html.number("valLoss", m.get("valLossEnd"))
                    : "";
            b.append("<td class=\"state-").append(Html.esc(r.state())).append("\">").append(Html.esc(r.state()))
                    .append("</td>")
                    .append(String.format(Locale.ROOT, "<td class=\"num\">%,d</td><td class=\"num\">%.1f s</td>"
                            + "<td class=\"num\">%,.0f</td>", r.steps(), r.wallSeconds(), r.tokensPerSecond()))
                    .append("<td class=\"num\">").append(Html.esc(loss)).append("</td><td>")
                    .append(link == null ? "" : "<a href=\"" + Html.esc(link) + "\">report.html</a>")
                    .append("</td></tr>\n");
        }
        b.append("</tbody>\n</table>\n");

        for (Map.Entry<String, StageResult> e : stages.entrySet()) {
            String name = e.getKey();
            StageResult r = e.getValue();
            b.append("<h2 id=\"stage-").append(Html.esc(anchor(name))).append("\">").append(Html.esc(name))
                    .append("</h2>\n");
            if (r == null) {
                b.append("<p class=\"sub\">no result</p>\n");
                continue;
            }
            b.append(String.format(Locale.ROOT, "<p class=\"sub\"><span class=\"state-%s\">%s</span> · %,d steps in "
                            + "%.1f s · %,.0f tokens/s", Html.esc(r.state()), Html.esc(r.state()), r.steps(),
                    r.wallSeconds(), r.tokensPerSecond()));
            if (links.containsKey(name)) {
                b.append(" · <a href=\"").append(Html.esc(links.get(name))).append("\">stage report</a>");
            }
            b.append("</p>\n");
            if (r.checkpoint() != null) {
                b.append("<p>checkpoint <code>").append(Html.esc(r.checkpoint())).append("</code></p>\n");
            }
            // StageResult's metrics come back from Temporal in no particular order: sorted, the tables line up.
            b.append(Html.metricsTable(new TreeMap<>(r.metrics()), Map.of()));
            TrainState s = states.get(name);
            if (s != null) {
                b.append(StageReport.lossChart(s, name + " loss"));
            }
            if (!r.samples().isEmpty()) {
                b.append("<h3>Samples</h3>\n").append(Html.samples(r.samples()));
            }
        }
        b.append(Html.pageEnd());
        return b.toString();
    }

    public static byte[] file(PipelineResult result, Map<String, TrainState> stageStates,
                              Map<String, String> stageLinks) {
        return html(result, stageStates, stageLinks).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * An href from the object {@code fromUri} to the object {@code toUri} (both {@code s3://bucket/key}) that works
     * wherever the bucket's keys are laid out as folders (S3Proxy's on-disk store, a sync, a static site); null
     * across buckets.
     */
    public static String relativeLink(String fromUri, String toUri) {
        String[] from = split(fromUri);
        String[] to = split(toUri);
        if (from == null || to == null || !from[0].equals(to[0])) {
            return null;
        }
        List<String> fromDir = segments(from[1]);
        if (!fromDir.isEmpty()) {
            fromDir.remove(fromDir.size() - 1); // the page itself
        }
        List<String> target = segments(to[1]);
        if (target.isEmpty()) {
            return null;
        }
        int common = 0;
        while (common < fromDir.size() && common < target.size() - 1
                && fromDir.get(common).equals(target.get(common))) {
            common++;
        }
        StringBuilder b = new StringBuilder();
        for (int i = common; i < fromDir.size(); i++) {
            b.append("../");
        }
        for (int i = common; i < target.size(); i++) {
            b.append(i == common ? "" : "/").append(encodePath(target.get(i)));
        }
        return b.toString();
    }

    private static Map<String, StageResult> stages(PipelineResult result) {
        return result.stages() == null ? Map.of() : result.stages();
    }

    /** [bucket, key] of {@code s3://bucket/key}, or null. */
    private static String[] split(String uri) {
        if (uri == null || !uri.startsWith("s3://")) {
            return null;
        }
        String rest = uri.substring("s3://".length());
        int slash = rest.indexOf('/');
        return slash < 0 ? new String[] {rest, ""} : new String[] {rest.substring(0, slash), rest.substring(slash + 1)};
    }

    private static List<String> segments(String key) {
        List<String> out = new ArrayList<>();
        for (String s : key.split("/")) {
            if (!s.isEmpty()) {
                out.add(s);
            }
        }
        return out;
    }

    /** Percent-encodes one path segment (RFC 3986 unreserved characters stay). */
    static String encodePath(String segment) {
        StringBuilder b = new StringBuilder();
        for (byte x : segment.getBytes(StandardCharsets.UTF_8)) {
            int c = x & 0xff;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
                    || c == '_' || c == '~') {
                b.append((char) c);
            } else {
                b.append('%').append(String.format(Locale.ROOT, "%02X", c));
            }
        }
        return b.toString();
    }

    private static String anchor(String name) {
        return encodePath(name);
    }
}
