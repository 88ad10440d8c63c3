package forge.stage.dpo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.stage.TinyStages;
import forge.stage.sft.SftConfig;
import forge.stage.sft.SftStage;
import forge.stage.sft.SftStageTest;
import forge.train.ParentModel;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainingMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The DPO stage without Temporal: it trains on pairs, resumes bit for bit, runs IPO, refuses bad input by name. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DpoStageTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    @TempDir
    static Path dir;
    TinyStages stages;
    String sft;

    @BeforeAll
    void up() throws Exception {
        stages = new TinyStages(dir);
        String base = stages.pretrained(128, 30);
        sft = new SftStage(SftConfig.parse(SftStageTest.spec("")), base, stages.store("parents", "sft"),
                stages.storage, metrics(), null).run(StageControl.NONE).checkpoint();
    }

    @AfterAll
    void down() {
        stages.close();
    }

    static ObjectNode spec(String extra) throws Exception {
        return (ObjectNode) YAML.readTree("""
                seed: 3
                data:
                  sources:
                    - {path: "demo:prefs?seed=7&count=60"}
                    - {path: "demo:ranked?seed=7&count=10&k=3"}
                  questions: [{path: "demo:prompts?seed=7&count=8&split=held_out"}]
                  val_fraction: 0.2
                dpo: {beta: 0.1}
                rollout: {max_new_tokens: 12}
                train: {max_steps: 6, batch_size: 4, learning_rate: 1.0e-3}
                eval: {interval: 3, batches: 2, prompts: 8}
                checkpoint: {interval_steps: 2, interval_seconds: 3600, keep_last: 2}
                sample: {count: 2}
                """ + extra);
    }

    /** The spec with these top-level keys replaced. */
    static ObjectNode with(ObjectNode spec, String yaml) throws Exception {
        spec.setAll((ObjectNode) YAML.readTree(yaml));
        return spec;
    }

    static TrainingMetrics metrics() {
        return new TrainingMetrics(new SimpleMeterRegistry(), "test", "dpo");
    }

    CheckpointStore store(String run) {
        return stages.store(run, "dpo");
    }

    StageOutcome run(ObjectNode spec, String run, StageControl control) {
        return new DpoStage(DpoConfig.parse(spec), sft, store(run), stages.storage, metrics(), null).run(control);
    }

    @Test
    void trainsOnPairsAndResumesBitForBit() throws Exception {
        ObjectNode spec = spec("");
        StageOutcome straight = run(spec, "straight", StageControl.NONE);
        assertTrue(straight.completed());
        StageOutcome stopped = run(spec, "resumed", SftStageTest.stopAt(3));
        assertFalse(stopped.completed());
        assertEquals(3, stopped.step());
        StageOutcome resumed = run(spec, "resumed", StageControl.NONE);
        assertEquals(1.0, resumed.metrics().get("resumes"));

        LoadedCheckpoint a = store("straight").loadFinal().orElseThrow();
        LoadedCheckpoint b = store("resumed").loadFinal().orElseThrow();
        for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(a.file(file), b.file(file), file + " differs after a stop and resume");
        }
        Map<String, Double> m = straight.metrics();
        for (String key : List.of("valPairAccuracy", "valMarginMean", "valRewardChosen", "valRewardRejected",
                "truthSft", "truthDpo", "truthScoreSft", "truthScoreDpo", "responseLengthSft", "responseLengthDpo",
                "klFinal", "pairsTrain", "pairsValidation")) {
            assertNotNull(m.get(key), key + " missing from " + m);
            assertTrue(Double.isFinite(m.get(key)), key + " = " + m.get(key));
        }
        assertTrue(m.get("klFinal") > 0, "the policy moved away from its reference: " + m);
        // The loss starts at log 2 (policy = reference, every margin 0) and training on the pairs lowers it.
        assertTrue(m.get("valMarginMean") > 0, "the chosen replies gained against the rejected: " + m);
        assertEquals(m.get("valPairAccuracy"), resumed.metrics().get("valPairAccuracy"));
        assertEquals(m.get("klFinal"), resumed.metrics().get("klFinal"));
        assertEquals(2, straight.samples().size());
        assertTrue(straight.samples().get(0).contains("\nSFT: ") && straight.samples().get(0).contains("\nDPO: "),
                straight.samples().get(0));
        ParentModel out = ParentModel.load(store("straight"), straight.checkpoint());
        assertFalse(out.weights().containsKey("score.weight"));
    }

    @Test
    void ipoTrainsWithoutQuestions() throws Exception {
        ObjectNode spec = with(spec(""), "dpo: {beta: 0.5, loss: ipo}");
        ((ObjectNode) spec.get("data")).remove("questions");
        ((ObjectNode) spec.get("train")).put("max_steps", 2);
        StageOutcome out = run(spec, "ipo", StageControl.NONE);
        assertTrue(out.completed());
        assertTrue(Double.isFinite(out.metrics().get("valPairAccuracy")), out.metrics().toString());
        assertFalse(out.metrics().containsKey("truthDpo"), "no questions, no answers graded: " + out.metrics());
        assertTrue(out.samples().isEmpty());
    }

    @Test
    void refusesBadInputByName() throws Exception {
        for (String[] bad : new String[][] {
                {"dpo: {beta: 0}", "dpo.beta: must be > 0"},
                {"dpo: {loss: hinge}", "dpo.loss: must be sigmoid or ipo"},
                {"dpo: {bta: 0.1}", "dpo.bta: unknown key"},
                {"rollout: {top_k: 5}", "rollout.top_k: must be 0 (off)"},
                {"eval: {prompts: 0}", "eval.prompts"},
                {"reward_from: s3://x/", "reward_from: unknown key"}}) {
            ObjectNode s = with(spec(""), bad[0]);
            BadInputException e = assertThrows(BadInputException.class, () -> DpoConfig.parse(s), bad[0]);
            assertTrue(e.getMessage().startsWith(bad[1]), bad[0] + " → " + e.getMessage());
        }
    }
}
