package forge.stage.ppo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.CheckpointFile;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.stage.TinyStages;
import forge.stage.reward.RewardConfig;
import forge.stage.reward.RewardStage;
import forge.stage.reward.RewardStageTest;
import forge.stage.sft.SftConfig;
import forge.stage.sft.SftStage;
import forge.stage.sft.SftStageTest;
import forge.storage.EmbeddedS3;
import forge.storage.S3Storage;
import forge.tensor.Safetensors;
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

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The PPO stage without Temporal: it runs its iterations, resumes bit for bit, and refuses bad input by name. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PpoStageTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    @TempDir
    static Path dir;
    TinyStages stages;
    EmbeddedS3 s3;
    S3Storage storage;
    String sft;
    String reward;

    @BeforeAll
    void up() throws Exception {
        stages = new TinyStages(dir);
        s3 = stages.s3;
        storage = stages.storage;
        String base = stages.pretrained(128, 30);
        sft = new SftStage(SftConfig.parse(SftStageTest.spec("")), base, store("parents", "sft"), storage,
                metrics("sft"), null).run(StageControl.NONE).checkpoint();
        ObjectNode rewardSpec = RewardStageTest.spec("");
        ((ObjectNode) rewardSpec.get("train")).put("max_steps", 20);
        reward = new RewardStage(RewardConfig.parse(rewardSpec), sft, store("parents", "reward"), storage,
                metrics("reward"), null).run(StageControl.NONE).checkpoint();
    }

    @AfterAll
    void down() {
        stages.close();
    }

    static ObjectNode spec(String extra) throws Exception {
        return (ObjectNode) YAML.readTree("""
                seed: 3
                data:
                  sources: [{path: "demo:prompts?seed=7&count=64"}]
                  validation: [{path: "demo:prompts?seed=7&count=8&split=held_out"}]
                rollout: {max_new_tokens: 12}
                ppo: {epochs: 2, mini_batches: 2}
                kl: {coef: 0.1, adaptive: true, target: 1.0, horizon: 100}
                reward: {missing_eos_penalty: 1.0}
                train: {max_steps: 6, batch_size: 8, learning_rate: 1.0e-4}
                eval: {interval: 3, prompts: 8}
                checkpoint: {interval_steps: 2, interval_seconds: 3600, keep_last: 2}
                sample: {count: 2}
                """ + extra);
    }

    CheckpointStore store(String run, String stage) {
        return stages.store(run, stage);
    }

    static TrainingMetrics metrics(String stage) {
        return new TrainingMetrics(new SimpleMeterRegistry(), "test", stage);
    }

    StageOutcome run(ObjectNode spec, String run, StageControl control) {
        return run(spec, run, control, reward);
    }

    StageOutcome run(ObjectNode spec, String run, StageControl control, String rewardUri) {
        return new PpoStage(PpoConfig.parse(spec), sft, rewardUri, store(run, "ppo"), storage, metrics("ppo"), null)
                .run(control);
    }

    @Test
    void runsItsIterationsAndResumesBitForBit() throws Exception {
        ObjectNode spec = spec("");
        StageOutcome straight = run(spec, "straight", StageControl.NONE);
        assertTrue(straight.completed());
        StageOutcome stopped = run(spec, "resumed", SftStageTest.stopAt(3));
        assertFalse(stopped.completed());
        assertEquals(3, stopped.step());
        StageOutcome resumed = run(spec, "resumed", StageControl.NONE);
        assertEquals(1.0, resumed.metrics().get("resumes"));

        LoadedCheckpoint a = store("straight", "ppo").loadFinal().orElseThrow();
        LoadedCheckpoint b = store("resumed", "ppo").loadFinal().orElseThrow();
        for (String file : List.of("model.safetensors", "optimizer.safetensors", PpoStage.VALUE_MODEL,
                PpoStage.VALUE_OPTIMIZER)) {
            assertArrayEquals(a.file(file), b.file(file), file + " differs after a stop and resume");
        }
        Map<String, Double> m = straight.metrics();
        for (String key : List.of("rewardSft", "rewardPpo", "truthSft", "truthPpo", "truthScoreSft", "truthScorePpo",
                "klFinal", "klRollout", "klCoef", "responseLengthSft", "responseLengthPpo")) {
            assertNotNull(m.get(key), key + " missing from " + m);
            assertTrue(Double.isFinite(m.get(key)), key + " = " + m.get(key));
        }
        assertTrue(m.get("klFinal") >= 0, "the exact KL is never negative: " + m);
        assertTrue(m.get("klCoef") != 0.1, "the adaptive controller moved beta: " + m);
        assertEquals(m.get("klCoef"), resumed.metrics().get("klCoef"), "beta resumes with the run");
        assertEquals(m.get("rewardPpo"), resumed.metrics().get("rewardPpo"));
        assertEquals(2, straight.samples().size());
        assertTrue(straight.samples().get(0).contains("\nSFT (reward ") && straight.samples().get(0).contains("\nPPO (reward "),
                straight.samples().get(0));

        // The output is a plain GPT-2 that the next user of it (generate, another stage) loads.
        ParentModel out = ParentModel.load(store("straight", "ppo"), straight.checkpoint());
        assertFalse(out.weights().containsKey("score.weight"));
    }

    @Test
    void aValueHeadOnThePolicyIsTheOtherCritic() throws Exception {
        ObjectNode spec = spec("critic: policy_head\n");
        ((ObjectNode) spec.get("train")).put("max_steps", 2);
        StageOutcome out = run(spec, "head", StageControl.NONE);
        assertTrue(out.completed());
        LoadedCheckpoint fin = store("head", "ppo").loadFinal().orElseThrow();
        assertTrue(Safetensors.read(fin.file(PpoStage.VALUE_HEAD)).containsKey("v_head.weight"));
        assertTrue(fin.optionalFile(PpoStage.VALUE_MODEL).isEmpty());
        assertTrue(Safetensors.read(fin.file("optimizer.safetensors")).containsKey("exp_avg.v_head.weight"));
    }

    @Test
    void aDivergingRunStopsWithAClearErrorAndKeepsItsLastGoodCheckpoint() throws Exception {
        ObjectNode spec = spec("");
        ((ObjectNode) spec.get("train")).put("learning_rate", 1.0e6).put("grad_clip", 0.0);
        ((ObjectNode) spec.get("checkpoint")).put("interval_steps", 1);
        BadInputException e = assertThrows(BadInputException.class, () -> run(spec, "diverged", StageControl.NONE));
        assertTrue(e.getMessage().contains("became") && e.getMessage().contains("last good checkpoint"), e.getMessage());
        assertTrue(store("diverged", "ppo").loadFinal().isEmpty(), "no final output from a diverged run");
    }

    @Test
    void refusesBadInputByName() throws Exception {
        BadInputException e = assertThrows(BadInputException.class,
                () -> run(spec(""), "not-a-reward-model", StageControl.NONE, sft));
        assertTrue(e.getMessage().contains("reward_from") && e.getMessage().contains("no score.weight"), e.getMessage());

        e = assertThrows(BadInputException.class, () -> run(spec(""), "tokenizers", StageControl.NONE,
                rewardModelWithAnotherTokenizer()));
        assertTrue(e.getMessage().contains("different tokenizers"), e.getMessage());

        ObjectNode tooLong = spec("");
        ((ObjectNode) tooLong.get("rollout")).put("max_new_tokens", 100);
        ((ObjectNode) tooLong.get("data")).put("too_long", "fail");
        e = assertThrows(BadInputException.class, () -> run(tooLong, "too-long", StageControl.NONE));
        assertTrue(e.getMessage().startsWith("data.sources[0]: prompt \""), e.getMessage());

        for (String[] bad : new String[][] {
                {"rollout: {temperature: 0}", "rollout.temperature"},
                {"rollout: {top_p: 1.5}", "rollout.top_p"},
                {"rollout: {top_k: -1}", "rollout.top_k"},
                {"ppo: {mini_batches: 16}", "ppo.mini_batches"},
                {"kl: {coef: -1}", "kl.coef"},
                {"critic: value", "critic"},
                {"ppo: {lam: 1.5}", "ppo.lam"},
                {"data: {sources: [{path: \"demo:prompts\"}], too_long: truncate_prompt_left}", "data.too_long"},
                {"ppo: {epoch: 2}", "ppo.epoch"}}) {
            ObjectNode s = spec("");
            s.setAll((ObjectNode) YAML.readTree(bad[0]));
            BadInputException err = assertThrows(BadInputException.class, () -> PpoConfig.parse(s), bad[0]);
            assertTrue(err.getMessage().contains(bad[1]), bad[0] + " → " + err.getMessage());
        }
    }

    /** The reward model's files with its tokenizer's vocabulary entries for two characters swapped. */
    private String rewardModelWithAnotherTokenizer() throws Exception {
        LoadedCheckpoint r = store("parents", "reward").loadFinal().orElseThrow();
        ObjectNode tok = (ObjectNode) new ObjectMapper().readTree(r.file("tokenizer.json"));
        ObjectNode vocab = (ObjectNode) tok.get("model").get("vocab");
        // Char-level vocabularies are sorted by code point: renaming the highest character keeps that true.
        String highest = "";
        for (var it = vocab.fieldNames(); it.hasNext(); ) {
            String t = it.next();
            if (t.length() == 1 && t.compareTo(highest) > 0) {
                highest = t;
            }
        }
        ObjectNode renamed = new ObjectMapper().createObjectNode();
        String last = highest;
        vocab.fields().forEachRemaining(f -> renamed.set(f.getKey().equals(last) ? "\u00ff" : f.getKey(), f.getValue()));
        ((ObjectNode) tok.get("model")).set("vocab", renamed);
        String swapped = tok.toString();
        List<CheckpointFile> files = new ArrayList<>();
        for (String name : List.of("model.safetensors", "config.json", "state.json", RewardStage.STATS_FILE)) {
            files.add(new CheckpointFile(name, r.file(name)));
        }
        files.add(new CheckpointFile("tokenizer.json", swapped.getBytes(StandardCharsets.UTF_8)));
        return store("other-tokenizer", "reward").commit("final", files).toString();
    }
}
