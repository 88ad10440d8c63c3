package forge.report;

import forge.train.TrainState;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineState;
import forge.workflow.StageResult;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PipelineReportTest {
    private static StageResult stage(String name, Map<String, Double> metrics, List<String> samples) {
        return new StageResult(name, "COMPLETED", 40, 3.5, 6000, "s3://forge/runs/demo-1/" + name + "/final",
                metrics, samples);
    }

    private static PipelineResult result() {
        Map<String, StageResult> stages = new LinkedHashMap<>();
        stages.put("pretrain", stage("pretrain", Map.of("valLossStart", 6.25, "valLossEnd", 0.83), List.of("Q: 1+1")));
        stages.put("sft", stage("sft", Map.of("taskAccuracyBefore", 0.005, "taskAccuracyAfter", 0.32),
                List.of("<script>x()</script>")));
        stages.put("reward", stage("reward", Map.of("valPairAccuracyBefore", 0.5, "valPairAccuracy", 0.8), List.of()));
        return new PipelineResult("demo-1", PipelineState.COMPLETED, 12.5, null, stages);
    }

    @Test
    void listsEveryStageWithLinksToTheirReports() {
        TrainState pre = StageReportTest.state("pretrain", "demo");
        String html = PipelineReport.html(result(), Map.of("pretrain", pre));
        for (String s : List.of("pretrain", "sft", "reward")) {
            assertTrue(html.contains("id=\"stage-" + s + "\""), s);
            assertTrue(html.contains("href=\"" + s + "/final/report.html\""), s + " link");
        }
        assertTrue(html.contains("<title>demo-1"));
        assertTrue(html.contains("COMPLETED"));
        assertTrue(html.contains("<svg"), "the loss chart of the stage whose state was read");
        assertEquals(1, html.split("<svg", -1).length - 1, "no chart without a state");
        assertTrue(html.contains("32.0%") && html.contains("80.0%"));
        assertFalse(html.contains("<script>"), "samples escaped");
    }

    @Test
    void explicitLinksAndAFailedRun() {
        PipelineResult failed = new PipelineResult("r<1>", PipelineState.FAILED, 1, "boom <b>", Map.of(
                "pretrain", new StageResult("pretrain", "FAILED", 3, 1, 0, null, null, null)));
        String html = PipelineReport.html(failed, null, Map.of());
        assertTrue(html.contains("r&lt;1&gt;") && html.contains("boom &lt;b&gt;"));
        assertFalse(html.contains("report.html"), "no link without a stage report");
    }

    @Test
    void relativeLinks() {
        assertEquals("pretrain/final/report.html", PipelineReport.relativeLink(
                "s3://forge/runs/demo-1/report.html", "s3://forge/runs/demo-1/pretrain/final/report.html"));
        // A stage reused from another run's cache.
        assertEquals("../demo-0/sft/final/report.html", PipelineReport.relativeLink(
                "s3://forge/runs/demo-1/report.html", "s3://forge/runs/demo-0/sft/final/report.html"));
        assertEquals("a%20b/final/report.html", PipelineReport.relativeLink(
                "s3://forge/report.html", "s3://forge/a b/final/report.html"));
        assertNull(PipelineReport.relativeLink("s3://forge/runs/x/report.html", "s3://other/x/final/report.html"));
    }
}
