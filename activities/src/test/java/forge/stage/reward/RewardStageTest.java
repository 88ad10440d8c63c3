package forge.stage.reward;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.errors.BadInputException;
import forge.rewards.RewardScorer;
import forge.stage.TinyStages;
import forge.stage.sft.SftStageTest;
import forge.storage.EmbeddedS3;
import forge.storage.S3Storage;
import forge.tensor.Safetensors;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainingMetrics;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reward-model stage without Temporal: it learns the comparisons, resumes exactly, stores its statistics. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public class RewardStageTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    TinyStages stages;
    EmbeddedS3 s3;
    S3Storage storage;
    String parent;

    @BeforeAll
    void up() throws Exception {
        stages = new TinyStages(dir);
        s3 = stages.s3;
        storage = stages.storage;
        parent = stages.pretrained(128, 40);
    }

    @AfterAll
    void down() {
        stages.close();
    }

    public static ObjectNode spec(String extra) throws Exception {
        return (ObjectNode) YAML.readTree("""
                seed: 9
                data:
                  sources:
                    - {path: "demo:prefs?seed=7&count=200"}
                    - {path: "demo:ranked?seed=7&count=60&k=3"}
                train: {max_steps: 60, batch_size: 4, grad_accum_steps: 2, warmup_steps: 3, learning_rate: 2.0e-3}
                eval: {interval: 30, batches: 8}
                checkpoint: {interval_steps: 10, interval_seconds: 3600, keep_last: 2}
                sample: {count: 2}
                """ + extra);
    }

    CheckpointStore store(String run, String stage) {
        return stages.store(run, stage);
    }

    StageOutcome run(ObjectNode spec, String run, StageControl control) {
        return run(spec, run, control, null);
    }

    StageOutcome run(ObjectNode spec, String run, StageControl control, StageCache cache) {
        return new RewardStage(RewardConfig.parse(spec), parent, store(run, "reward"), storage,
                new TrainingMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry(), run, "reward"),
                cache).run(control);
    }

    @Test
    void learnsTheComparisonsResumesExactlyAndStoresItsStatistics() throws Exception {
        ObjectNode spec = spec("");
        StageOutcome straight = run(spec, "straight", StageControl.NONE);
        StageOutcome stopped = run(spec, "resumed", SftStageTest.stopAt(13));
        assertFalse(stopped.completed());
        StageOutcome resumed = run(spec, "resumed", StageControl.NONE);
        assertEquals(1.0, resumed.metrics().get("resumes"));
        LoadedCheckpoint a = store("straight", "reward").loadFinal().orElseThrow();
        LoadedCheckpoint b = store("resumed", "reward").loadFinal().orElseThrow();
        assertArrayEquals(a.file("model.safetensors"), b.file("model.safetensors"));
        assertArrayEquals(a.file("optimizer.safetensors"), b.file("optimizer.safetensors"));

        Map<String, Double> m = straight.metrics();
        assertTrue(m.get("valLossEnd") < m.get("valLossStart"), m.toString());
        assertTrue(m.get("valPairAccuracy") > m.get("valPairAccuracyBefore"), m.toString());
        assertEquals(200 + 60 * 3, m.get("pairsTrain") + m.get("pairsValidation") + m.get("pairsSkippedTooLong"),
                "every comparison and every pair of a ranked list of 3 is trained, validated or counted: " + m);
        assertEquals(m.get("valPairAccuracy"), resumed.metrics().get("valPairAccuracy"));
        for (String byType : new String[] {"valPairAccuracyWhereCorrectnessDecides", "valPairAccuracyWhereStyleDecides"}) {
            assertTrue(m.get(byType) >= 0 && m.get(byType) <= 1, "demo data is graded by pair type: " + m);
        }

        JsonNode stats = JSON.readTree(a.file(RewardStage.STATS_FILE));
        assertEquals(m.get("rewardMean"), stats.get("mean").asDouble(), 1e-12);
        assertTrue(stats.get("std").asDouble() > 0);
        assertTrue(Safetensors.read(a.file("model.safetensors")).containsKey("score.weight"));
        assertEquals("GPT2ForSequenceClassification",
                JSON.readTree(a.file("config.json")).get("architectures").get(0).asText());
        assertEquals(2, straight.samples().size());

        // ./forge score lays a response out as the stage did: it gives the score the stage's sample shows.
        String[] sample = straight.samples().get(0).split("\n");
        String prompt = sample[0].substring("Q: ".length());
        double shown = Double.parseDouble(sample[1].substring(0, sample[1].indexOf("  ")));
        String response = sample[1].substring(sample[1].indexOf("  ") + 2);
        try (RewardScorer scorer = RewardScorer.load(store("straight", "reward"), a.uri().toString())) {
            assertEquals(shown, scorer.score(prompt, response), 0.005 + 1e-6);
            assertEquals(stats.get("mean").asDouble(), scorer.mean());
        }
    }

    @Test
    void identicalPairsAreCountedAndBadFilesNameTheirLine() throws Exception {
        Path prefs = dir.resolve("prefs.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            sb.append(JSON.writeValueAsString(Map.of("prompt", "What is " + i + " + 1?", "chosen", (i + 1) + ".",
                    "rejected", i % 10 == 0 ? (i + 1) + "." : "I don't know."))).append('\n');
        }
        Files.writeString(prefs, sb.toString(), StandardCharsets.UTF_8);
        ObjectNode spec = spec("");
        spec.set("data", JSON.readTree("{\"sources\": [{\"path\": \"" + prefs + "\"}]}"));
        spec.with("train").put("max_steps", 2);
        StageOutcome out = run(spec, "identical", StageControl.NONE);
        assertEquals(4.0, out.metrics().get("pairsSkippedIdentical"), out.metrics().toString());

        Files.writeString(prefs, sb + "{\"prompt\": \"x\", \"chosen\": \"a\", \"rejected\": \"\"}\n");
        BadInputException e = assertThrows(BadInputException.class, () -> run(spec, "bad-line", StageControl.NONE));
        assertTrue(e.getMessage().contains(prefs + ":41"), e.getMessage());

        BadInputException noParent = assertThrows(BadInputException.class, () -> new RewardStage(
                RewardConfig.parse(spec("")), null, store("x", "reward"), storage, null, null));
        assertTrue(noParent.getMessage().startsWith("init_from"), noParent.getMessage());
        BadInputException unknown = assertThrows(BadInputException.class, () -> RewardConfig.parse(spec("lora: {}\n")));
        assertTrue(unknown.getMessage().startsWith("lora"), unknown.getMessage());
    }

    @Test
    void aFinishedRewardModelIsReused() throws Exception {
        StageCache cache = new StageCache(storage, s3.settings("runs").root().resolve("_cache"));
        ObjectNode spec = spec("");
        spec.with("train").put("max_steps", 3);
        assertEquals(0.0, run(spec, "cache-1", StageControl.NONE, cache).metrics().get("cached"));
        StageOutcome again = run(spec, "cache-2", StageControl.NONE, cache);
        assertEquals(1.0, again.metrics().get("cached"));
        assertTrue(again.metrics().containsKey("valPairAccuracy"));
    }
}
