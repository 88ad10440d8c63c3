package forge.report;

import forge.train.TrainState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code report.html} of a stage's {@code final/}: one self-contained page with the headline figures (before →
 * after side by side), the train and validation loss curves, the samples, the parent checkpoint and the resolved
 * config. Everything that came from a user or a model is escaped.
 */
public final class StageReport {
    private static final Logger log = LoggerFactory.getLogger(StageReport.class);

    private StageReport() {}

    public static String html(TrainState state, Map<String, Double> summaryMetrics, List<String> samples) {
        return html(state, summaryMetrics, samples, null);
    }

    /**
     * @param checkpoint where the page is stored ({@code s3://.../<run>/<stage>/final}), shown and used to name the
     *                   run; null when unknown
     */
    public static String html(TrainState state, Map<String, Double> summaryMetrics, List<String> samples,
                              String checkpoint) {
        String stage = state.stage() == null ? "stage" : state.stage();
        String run = runOf(checkpoint, stage);
        StringBuilder b = new StringBuilder(16_384);
        b.append(Html.pageStart(stage + (run != null ? " — " + run : "") + " · LLM Forge"));
        b.append("<h1>").append(Html.esc(stage)).append(run != null ? " <small>— " + Html.esc(run) + "</small>" : "")
                .append("</h1>\n");
        b.append(String.format(Locale.ROOT, "<p class=\"sub\">%,d steps · %,d tokens · %.1f s of training",
                state.step(), state.tokensSeen(), state.trainSeconds()));
        if (checkpoint != null) {
            b.append(" · <code>").append(Html.esc(checkpoint)).append("</code>");
        }
        b.append("</p>\n");

        b.append("<h2>Headline</h2>\n");
        Map<String, Double> metrics = new LinkedHashMap<>();
        if (summaryMetrics != null) {
            metrics.putAll(summaryMetrics);
        } else {
            metrics.putAll(state.metrics());
        }
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put("steps", Html.number("steps", (double) state.step()));
        extra.put("throughput", throughput(state));
        extra.put("resumes", Integer.toString(state.resumes()));
        metrics.remove("resumes");
        b.append(Html.metricsTable(metrics, extra));

        b.append("<h2>Loss</h2>\n");
        b.append(lossChart(state, stage + " loss"));

        b.append("<h2>Samples</h2>\n");
        b.append(Html.samples(samples));

        b.append("<h2>Parent checkpoint</h2>\n");
        b.append(state.parentCheckpoint() == null || state.parentCheckpoint().isEmpty()
                ? "<p class=\"sub\">none (trained from scratch)</p>\n"
                : "<p><code>" + Html.esc(state.parentCheckpoint()) + "</code></p>\n");

        b.append("<h2>Resolved config</h2>\n");
        b.append("<pre class=\"config\">").append(Html.esc(Html.prettyJson(state.config()))).append("</pre>\n");
        b.append(String.format(Locale.ROOT, "<p class=\"sub\">seed %d · state.json format %d</p>\n", state.seed(),
                state.formatVersion()));
        b.append(Html.pageEnd());
        return b.toString();
    }

    /**
     * The page as UTF-8 for {@code final/}: a stage's output must never fail for its report, so an unexpected
     * error becomes a short page that says so.
     */
    public static byte[] file(TrainState state, Map<String, Double> summaryMetrics, List<String> samples,
                              String checkpoint) {
        String page;
        try {
            page = html(state, summaryMetrics, samples, checkpoint);
        } catch (RuntimeException e) {
            log.warn("could not render the report of {}: {}", checkpoint, e.toString());
            page = Html.pageStart("report unavailable") + "<p class=\"error\">The report could not be rendered: "
                    + Html.esc(e.toString()) + "</p>\n" + Html.pageEnd();
        }
        return page.getBytes(StandardCharsets.UTF_8);
    }

    /** Train loss every few steps and validation loss at each evaluation, against the step. */
    static String lossChart(TrainState state, String title) {
        return Charts.lineChart(title, "step", "loss", List.of(
                new Charts.Series("train loss", state.lossHistory()),
                new Charts.Series("validation loss", state.valHistory())));
    }

    static String throughput(TrainState state) {
        return state.trainSeconds() > 0
                ? String.format(Locale.ROOT, "%,.0f tokens/s", state.tokensSeen() / state.trainSeconds())
                : "n/a";
    }

    /** The run id in {@code s3://bucket/prefix/<run>/<stage>/final}, or null. */
    static String runOf(String checkpoint, String stage) {
        if (checkpoint == null) {
            return null;
        }
        String[] parts = checkpoint.replaceAll("/+$", "").split("/");
        int n = parts.length;
        if (n >= 3 && parts[n - 1].equals("final") && parts[n - 2].equals(stage) && !parts[n - 3].isEmpty()) {
            return parts[n - 3];
        }
        return null;
    }
}
