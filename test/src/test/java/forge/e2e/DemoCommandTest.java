package forge.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.cli.Forge;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's first command, on a small spec: embedded stack, workers, progress, report and summary JSON. */
class DemoCommandTest {
    @TempDir
    Path dir;

    @Test
    void demoRunsThePipelineAndWritesTheSummaryContract() throws Exception {
        Path spec = dir.resolve("tiny.yaml");
        Files.writeString(spec, TestStack.YAML.writeValueAsString(TestStack.tinyPipeline(120, 40, 60)));
        Path summary = dir.resolve("summary.json");

        int code = Forge.execute("demo", "--config", spec.toString(), "--summary-json", summary.toString(),
                "--data-dir", dir.resolve("forge-home").toString());

        assertEquals(0, code);
        JsonNode s = new ObjectMapper().readTree(summary.toFile());
        assertTrue(s.get("runId").asText().startsWith("demo-"));
        assertEquals("COMPLETED", s.get("state").asText());
        assertTrue(s.get("wallSeconds").asDouble() > 0);
        JsonNode pretrain = s.get("stages").get("pretrain");
        assertEquals("COMPLETED", pretrain.get("state").asText());
        assertEquals(120, pretrain.get("steps").asInt());
        assertTrue(pretrain.get("tokensPerSecond").asDouble() > 0);
        assertTrue(pretrain.get("checkpoint").asText().startsWith("s3://forge/runs/demo-"));
        assertTrue(pretrain.get("metrics").get("valLossEnd").asDouble() < pretrain.get("metrics").get("valLossStart").asDouble());
        // The contract of DESIGN.md for the later stages, each starting from the one before.
        JsonNode sft = s.get("stages").get("sft").get("metrics");
        for (String key : new String[] {"valLossStart", "valLossEnd", "taskAccuracyBefore", "taskAccuracyAfter"}) {
            assertTrue(sft.has(key), "sft." + key + " in " + sft);
        }
        JsonNode reward = s.get("stages").get("reward").get("metrics");
        for (String key : new String[] {"valPairAccuracy", "rewardMean", "rewardStd"}) {
            assertTrue(reward.has(key), "reward." + key + " in " + reward);
        }
        assertTrue(s.get("stages").get("reward").get("checkpoint").asText().endsWith("/reward/final"));
        JsonNode ppo = s.get("stages").get("ppo").get("metrics");
        for (String key : new String[] {"rewardSft", "rewardPpo", "truthSft", "truthPpo", "klFinal"}) {
            assertTrue(ppo.has(key) && Double.isFinite(ppo.get(key).asDouble()), "ppo." + key + " in " + ppo);
        }
        assertTrue(ppo.get("truthPpo").asDouble() >= 0 && ppo.get("truthPpo").asDouble() <= 1,
                "truth* is the fraction of held-out prompts answered right: " + ppo);
        String runDir = "forge-home/s3/forge/runs/" + s.get("runId").asText();
        assertTrue(Files.exists(dir.resolve(runDir).resolve("pretrain/final/MANIFEST.json")), "checkpoints on disk where the demo says");
        assertTrue(Files.exists(dir.resolve(runDir).resolve("summary.json")), "summary.json next to the checkpoints");
        assertTrue(Files.exists(dir.resolve(runDir).resolve("report.html"))
                && Files.exists(dir.resolve(runDir).resolve("pretrain/final/report.html")), "run and stage reports on disk");
    }
}
