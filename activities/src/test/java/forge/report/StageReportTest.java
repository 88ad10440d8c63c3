package forge.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.train.TrainState;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StageReportTest {
    static TrainState state(String stage, String configText) {
        ObjectNode config = new ObjectMapper().createObjectNode();
        config.put("name", configText);
        config.putObject("train").put("max_steps", 40);
        List<double[]> loss = new ArrayList<>(List.of(new double[] {10, 5.5}, new double[] {20, 4.0},
                new double[] {30, 3.1}, new double[] {40, 2.6}));
        List<double[]> val = new ArrayList<>(List.of(new double[] {0, 6.25}, new double[] {40, 2.75}));
        Map<String, Double> metrics = new LinkedHashMap<>();
        metrics.put("taskAccuracyBefore", 0.005);
        metrics.put("taskAccuracyAfter", 0.32);
        metrics.put("valPairAccuracyBefore", 0.519);
        metrics.put("valPairAccuracy", 0.78);
        metrics.put("rewardMean", 0.125);
        return new TrainState(TrainState.FORMAT_VERSION, stage, 40, 12_000, 1337, 2.0, 1, 6.25, 2.75, loss, val,
                "s3://forge/runs/r1/pretrain/final", config, metrics);
    }

    static Map<String, Double> summary(TrainState s) {
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("valLossStart", s.valLossStart());
        m.put("valLossEnd", s.valLoss());
        m.put("trainLossEnd", 2.6);
        m.putAll(s.metrics());
        m.put("resumes", (double) s.resumes());
        m.put("tokensSeen", (double) s.tokensSeen());
        m.put("trainSeconds", s.trainSeconds());
        return m;
    }

    @Test
    void showsHeadlineFiguresCurvesSamplesParentAndConfig() {
        TrainState s = state("sft", "demo");
        String html = StageReport.html(s, summary(s), List.of("Q: What is 19 + 7?\nA: The answer is 26."),
                "s3://forge/runs/demo-1/sft/final");
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        assertTrue(html.contains("<title>sft — demo-1"), "stage and run in the title");
        assertTrue(html.contains("<svg"), "a chart");
        assertTrue(html.contains(">train loss</text>") && html.contains(">validation loss</text>"));
        // before → after side by side
        assertTrue(html.matches("(?s).*<td>taskAccuracy</td><td class=\"num\">0\\.5%</td><td>→</td>"
                + "<td class=\"num\">32\\.0%</td>.*"), html);
        assertTrue(html.matches("(?s).*<td>valPairAccuracy</td><td class=\"num\">51\\.9%</td><td>→</td>"
                + "<td class=\"num\">78\\.0%</td>.*"), html);
        assertTrue(html.matches("(?s).*<td>valLoss</td><td class=\"num\">6\\.2500</td><td>→</td>"
                + "<td class=\"num\">2\\.7500</td>.*"), html);
        assertTrue(html.contains("6,000 tokens/s"), "throughput = tokensSeen / trainSeconds");
        assertTrue(html.matches("(?s).*<td>resumes</td>.*<td class=\"num\">1</td>.*"));
        assertTrue(html.contains("rewardMean"));
        assertTrue(html.contains("A: The answer is 26."));
        assertTrue(html.contains("s3://forge/runs/r1/pretrain/final"), "parent checkpoint");
        assertTrue(html.contains("&quot;max_steps&quot; : 40"), "pretty config");
    }

    @Test
    void ppoFiguresOfTheSftAndPpoPoliciesStandSideBySide() {
        TrainState s = TrainState.start("ppo", 1, -0.57, "s3://forge/runs/demo-1/sft/final/", null,
                Map.of("rewardSft", 0.569, "truthSft", 0.241));
        s = s.withMetrics(Map.of("rewardPpo", 1.309, "truthPpo", 0.256, "klFinal", 1.55));
        String html = StageReport.html(s, summary(s), List.of(), "s3://forge/runs/demo-1/ppo/final");
        assertTrue(html.matches("(?s).*<td>reward</td><td class=\"num\">0\\.5690</td><td>→</td>"
                + "<td class=\"num\">1\\.3090</td>.*"), html);
        assertTrue(html.matches("(?s).*<td>truth</td><td class=\"num\">24\\.1%</td><td>→</td>"
                + "<td class=\"num\">25\\.6%</td>.*"), html);
        assertTrue(html.contains("<td>klFinal</td>"), html);
    }

    @Test
    void escapesSamplesAndConfig() {
        TrainState s = state("pretrain", "</pre><script>alert('config')</script>");
        String html = StageReport.html(s, summary(s), List.of("<script>alert(\"sample\")</script> & <b>"), null);
        assertFalse(html.contains("<script>"), html);
        assertFalse(html.contains("</pre><script"), html);
        assertTrue(html.contains("&lt;script&gt;alert(&quot;sample&quot;)&lt;/script&gt; &amp; &lt;b&gt;"));
        assertTrue(html.contains("&lt;/pre&gt;&lt;script&gt;alert(&#39;config&#39;)"));
    }

    @Test
    void toleratesAFreshStateWithoutHistoryOrMetrics() {
        TrainState s = TrainState.start("reward", 1, Double.NaN, null, null, null);
        byte[] page = StageReport.file(s, null, null, "s3://b/reward/final");
        String html = new String(page, StandardCharsets.UTF_8);
        assertTrue(html.contains("<svg") && html.contains("no data"), html);
        assertTrue(html.contains("trained from scratch"));
        assertTrue(html.contains("n/a"), "throughput without training time");
        assertEquals("r", StageReport.runOf("s3://forge/runs/r/sft/final/", "sft"));
    }
}
