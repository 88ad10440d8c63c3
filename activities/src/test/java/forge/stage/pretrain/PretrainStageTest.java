package forge.stage.pretrain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.errors.BadInputException;
import forge.storage.EmbeddedS3;
import forge.storage.LocalS3;
import forge.storage.S3Storage;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainingMetrics;
import forge.train.TrainingProgress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pretraining loop without Temporal: stop on request, resume from S3, end bit-identical. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public class PretrainStageTest {
    @TempDir
    static Path dir;
    EmbeddedS3 s3;
    S3Storage storage;

    @BeforeAll
    void up() {
        s3 = LocalS3.start(dir);
        storage = new S3Storage(s3.settings("runs"), LocalS3.testOptions());
    }

    @AfterAll
    void down() {
        storage.close();
        s3.close();
    }

    public static JsonNode spec(int maxSteps) throws Exception {
        return new ObjectMapper(new YAMLFactory()).readTree("""
                seed: 5
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32, dropout: 0.1}
                tokenizer: {type: char}
                data: {sources: [{path: "demo:pretrain?seed=3&docs=600"}]}
                train: {max_steps: %d, batch_size: 4, grad_accum_steps: 2, warmup_steps: 5}
                eval: {interval: 20, batches: 2}
                checkpoint: {interval_steps: 15, interval_seconds: 3600, keep_last: 2}
                sample: {count: 1, max_new_tokens: 10}
                """.formatted(maxSteps));
    }

    public static TrainingMetrics metrics() {
        return new TrainingMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry(), "test", "pretrain");
    }

    CheckpointStore store(String run) {
        return new CheckpointStore(storage, s3.settings("runs").stageRoot(run, "pretrain"), 2);
    }

    @Test
    void stoppedAndResumedRunEqualsUninterruptedRun() throws Exception {
        PretrainConfig cfg = PretrainConfig.parse(spec(50));
        StageOutcome straight = new PretrainStage(cfg, store("straight"), storage, metrics(), null).run(StageControl.NONE);
        assertTrue(straight.completed());

        AtomicLong steps = new AtomicLong();
        StageControl stopAt23 = new StageControl() {
            @Override
            public void progress(TrainingProgress p) {
                steps.set(p.step());
            }

            @Override
            public void milestone(TrainingProgress p) {}

            @Override
            public boolean stopRequested() {
                return steps.get() >= 23;
            }
        };
        StageOutcome stopped = new PretrainStage(cfg, store("resumed"), storage, metrics(), null).run(stopAt23);
        assertFalse(stopped.completed());
        assertEquals(23, stopped.step(), "a stop request checkpoints the step it stopped at");
        StageOutcome resumed = new PretrainStage(cfg, store("resumed"), storage, metrics(), null).run(StageControl.NONE);
        assertTrue(resumed.completed());
        assertEquals(1.0, resumed.metrics().get("resumes"));

        LoadedCheckpoint a = store("straight").loadFinal().orElseThrow();
        LoadedCheckpoint b = store("resumed").loadFinal().orElseThrow();
        assertArrayEquals(a.file("model.safetensors"), b.file("model.safetensors"));
        assertArrayEquals(a.file("optimizer.safetensors"), b.file("optimizer.safetensors"));
        assertEquals(straight.metrics().get("valLossEnd"), resumed.metrics().get("valLossEnd"));
    }

    /** A worker that dies at step 20 after the step-15 checkpoint; the next attempt knows it had reached 20. */
    @Test
    void aCrashedAttemptsLostStepsAndTheResumeReadAreMeasured() throws Exception {
        PretrainConfig cfg = PretrainConfig.parse(spec(30));
        StageControl crashAt20 = new StageControl() {
            @Override
            public void progress(TrainingProgress p) {
                if (p.step() == 20) {
                    throw new IllegalStateException("simulated crash");
                }
            }

            @Override
            public void milestone(TrainingProgress p) {}

            @Override
            public boolean stopRequested() {
                return false;
            }
        };
        assertThrows(IllegalStateException.class,
                () -> new PretrainStage(cfg, store("crashed"), storage, metrics(), null).run(crashAt20));
        var registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        StageControl retried = new StageControl() {
            @Override
            public void progress(TrainingProgress p) {}

            @Override
            public void milestone(TrainingProgress p) {}

            @Override
            public boolean stopRequested() {
                return false;
            }

            @Override
            public java.util.OptionalLong previousAttemptStep() {
                return java.util.OptionalLong.of(20);
            }
        };
        StageOutcome out = new PretrainStage(cfg, store("crashed"), storage,
                new TrainingMetrics(registry, "crashed", "pretrain"), null).run(retried);
        assertTrue(out.completed());
        assertEquals(5.0, out.metrics().get("stepsLost"), "resumed at the step-15 checkpoint, had reached 20");
        assertEquals(5.0, registry.get("forge_steps_lost").counter().count());
        assertTrue(registry.get("forge_checkpoint_bytes_read").counter().count() > 0);
        assertEquals(1, registry.get("forge_checkpoint_read").timer().count());
    }

    @Test
    void bpeTokenizerAndMixedSourcesFromS3AndLocalFiles() throws Exception {
        StringBuilder jsonl = new StringBuilder();
        for (String doc : new forge.demo.DemoWorld(11).pretrainDocuments(300)) {
            jsonl.append(new ObjectMapper().writeValueAsString(java.util.Map.of("text", doc))).append('\n');
        }
        var uri = s3.settings("corpora").root().resolve("demo.jsonl");
        storage.put(uri, jsonl.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        Path local = java.nio.file.Files.writeString(dir.resolve("local.txt"),
                String.join("\n\n", new forge.demo.DemoWorld(12).pretrainDocuments(300)));
        var json = (com.fasterxml.jackson.databind.node.ObjectNode) spec(20);
        json.set("tokenizer", new ObjectMapper().readTree("{\"type\": \"bpe\", \"vocab_size\": 300}"));
        json.set("data", new ObjectMapper().readTree("{\"sources\": [{\"path\": \"" + uri + "\", \"weight\": 3},"
                + " {\"path\": \"" + local + "\", \"weight\": 1}]}"));
        StageOutcome out = new PretrainStage(PretrainConfig.parse(json), store("bpe"), storage, metrics(), null).run(StageControl.NONE);
        assertTrue(out.completed());
        LoadedCheckpoint fin = store("bpe").loadFinal().orElseThrow();
        JsonNode tok = new ObjectMapper().readTree(fin.file("tokenizer.json"));
        assertEquals("BPE", tok.get("model").get("type").asText());
        assertEquals(300, new ObjectMapper().readTree(fin.file("config.json")).get("vocab_size").asInt());
        assertTrue(out.metrics().get("valLossEnd") < out.metrics().get("valLossStart"));
    }

    @Test
    void aFinishedStageIsReportedNotRetrainedAndAChangedSpecIsRefused() throws Exception {
        PretrainConfig cfg = PretrainConfig.parse(spec(20));
        StageOutcome first = new PretrainStage(cfg, store("again"), storage, metrics(), null).run(StageControl.NONE);
        StageOutcome again = new PretrainStage(cfg, store("again"), storage, metrics(), null).run(StageControl.NONE);
        assertEquals(first.checkpoint(), again.checkpoint());
        assertEquals(first.metrics().get("valLossEnd"), again.metrics().get("valLossEnd"));
        assertEquals(first.samples(), again.samples());

        AtomicLong steps = new AtomicLong();
        StageControl stopAt5 = new StageControl() {
            public void progress(TrainingProgress p) { steps.set(p.step()); }
            public void milestone(TrainingProgress p) {}
            public boolean stopRequested() { return steps.get() >= 5; }
        };
        new PretrainStage(cfg, store("changed"), storage, metrics(), null).run(stopAt5);
        var changed = (com.fasterxml.jackson.databind.node.ObjectNode) spec(20);
        ((com.fasterxml.jackson.databind.node.ObjectNode) changed.get("train")).put("learning_rate", 0.5);
        BadInputException e = assertThrows(BadInputException.class, () ->
                new PretrainStage(PretrainConfig.parse(changed), store("changed"), storage, metrics(), null).run(StageControl.NONE));
        assertTrue(e.getMessage().contains("different config"), e.getMessage());
    }

    @Test
    void anIdenticalSpecReusesTheFinishedStageUnlessItsOutputVanished() throws Exception {
        PretrainConfig cfg = PretrainConfig.parse(spec(20));
        StageCache cache = new StageCache(storage, s3.settings("runs").root().resolve("_cache"));
        StageOutcome first = new PretrainStage(cfg, store("cache-1"), storage, metrics(), cache).run(StageControl.NONE);
        assertEquals(0.0, first.metrics().get("cached"), 0.0, "nothing to reuse yet");

        StageOutcome second = new PretrainStage(cfg, store("cache-2"), storage, metrics(), cache).run(StageControl.NONE);
        assertEquals(1.0, second.metrics().get("cached"));
        assertEquals(first.checkpoint(), second.checkpoint(), "the earlier run's output is reused");
        assertTrue(store("cache-2").latest().isEmpty(), "nothing was trained for the second run");

        var changed = (com.fasterxml.jackson.databind.node.ObjectNode) spec(20);
        changed.put("seed", 6);
        StageOutcome other = new PretrainStage(PretrainConfig.parse(changed), store("cache-3"), storage, metrics(), cache)
                .run(StageControl.NONE);
        assertFalse(other.checkpoint().equals(first.checkpoint()), "another seed is another stage");

        storage.deleteAll(s3.settings("runs").stageRoot("cache-1", "pretrain").resolve("final"));
        StageOutcome again = new PretrainStage(cfg, store("cache-4"), storage, metrics(), cache).run(StageControl.NONE);
        assertEquals(0.0, again.metrics().getOrDefault("cached", 0.0), 0.0, "a vanished artifact is recomputed");
        assertTrue(again.checkpoint().contains("cache-4"));
        assertEquals(first.metrics().get("valLossEnd"), again.metrics().get("valLossEnd"), "and recomputed exactly");
    }

    @Test
    void configErrorsNameTheField() throws Exception {
        JsonNode bad = spec(10);
        ((com.fasterxml.jackson.databind.node.ObjectNode) bad.get("model")).put("n_head", 3);
        BadInputException e = assertThrows(BadInputException.class, () -> PretrainConfig.parse(bad));
        assertTrue(e.getMessage().startsWith("model.n_embd"), e.getMessage());

        JsonNode typo = spec(10);
        ((com.fasterxml.jackson.databind.node.ObjectNode) typo).put("sede", 1);
        e = assertThrows(BadInputException.class, () -> PretrainConfig.parse(typo));
        assertTrue(e.getMessage().startsWith("sede: unknown key"), e.getMessage());
    }

    /** The durability benchmark charges the stage's extra time to durability: only fair if both train the same. */
    @Test
    void bareBenchmarkLoopTrainsExactlyWhatTheStageTrains() throws Exception {
        PretrainConfig cfg = PretrainConfig.parse(spec(40));
        StageOutcome stage = new PretrainStage(cfg, store("versus-bare"), storage, metrics(), null).run(StageControl.NONE);
        forge.bench.BareTraining.Result bare = forge.bench.BareTraining.run(cfg, line -> { });
        assertEquals(stage.metrics().get("valLossStart"), bare.valLossStart());
        assertEquals(stage.metrics().get("valLossEnd"), bare.valLossEnd(), "same steps, same seeds, same bits");
        assertEquals(40, bare.steps());
        assertEquals(40 * cfg.tokensPerStep(), bare.tokens());
        assertTrue(bare.stepSeconds() > 0 && bare.hostCopyMs() > 0);
        long parameters = cfg.gptConfig(bare.model().vocabSize()).parameterCount();
        assertEquals(3 * 4 * parameters, bare.checkpointTensorBytes(), "weights and two AdamW moments, fp32");
        assertEquals(2.0, stage.metrics().get("checkpointsSubmitted"), "at steps 15 and 30; the end writes final/ instead");
    }
}
