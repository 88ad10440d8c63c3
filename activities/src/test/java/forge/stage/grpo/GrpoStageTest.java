package forge.stage.grpo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
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

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The GRPO stage without Temporal: it runs its steps, resumes bit for bit, survives a failing verifier, refuses bad input. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GrpoStageTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    @TempDir
    static Path dir;
    TinyStages stages;
    String sft;
    String reward;

    @BeforeAll
    void up() throws Exception {
        stages = new TinyStages(dir);
        String base = stages.pretrained(128, 30);
        sft = new SftStage(SftConfig.parse(SftStageTest.spec("")), base, store("parents", "sft"), stages.storage,
                metrics("sft"), null).run(StageControl.NONE).checkpoint();
        ObjectNode rewardSpec = RewardStageTest.spec("");
        ((ObjectNode) rewardSpec.get("train")).put("max_steps", 10);
        reward = new RewardStage(RewardConfig.parse(rewardSpec), sft, store("parents", "reward"), stages.storage,
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
                rewards:
                  - {type: hidden_rule}
                  - {type: exact_number, weight: 0.5}
                grpo: {group_size: 4, epochs: 2, mini_batches: 2}
                kl: {coef: 0.05}
                train: {max_steps: 6, batch_size: 4, learning_rate: 1.0e-4}
                eval: {interval: 3, prompts: 8, pass_at_k: 2}
                checkpoint: {interval_steps: 2, interval_seconds: 3600, keep_last: 2}
                sample: {count: 2}
                """ + extra);
    }

    /** The spec with these top-level keys replaced. */
    static ObjectNode with(ObjectNode spec, String yaml) throws Exception {
        spec.setAll((ObjectNode) YAML.readTree(yaml));
        return spec;
    }

    CheckpointStore store(String run, String stage) {
        return stages.store(run, stage);
    }

    static TrainingMetrics metrics(String stage) {
        return new TrainingMetrics(new SimpleMeterRegistry(), "test", stage);
    }

    StageOutcome run(ObjectNode spec, String run, StageControl control) {
        return new GrpoStage(GrpoConfig.parse(spec), sft, reward, store(run, "grpo"), stages.storage, metrics("grpo"),
                null).run(control);
    }

    @Test
    void runsItsStepsAndResumesBitForBit() throws Exception {
        ObjectNode spec = spec("");
        StageOutcome straight = run(spec, "straight", StageControl.NONE);
        assertTrue(straight.completed());
        StageOutcome stopped = run(spec, "resumed", SftStageTest.stopAt(3));
        assertFalse(stopped.completed());
        assertEquals(3, stopped.step());
        StageOutcome resumed = run(spec, "resumed", StageControl.NONE);
        assertEquals(1.0, resumed.metrics().get("resumes"));

        LoadedCheckpoint a = store("straight", "grpo").loadFinal().orElseThrow();
        LoadedCheckpoint b = store("resumed", "grpo").loadFinal().orElseThrow();
        for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(a.file(file), b.file(file), file + " differs after a stop and resume");
        }
        Map<String, Double> m = straight.metrics();
        for (String key : List.of("rewardSft", "rewardGrpo", "rewardSft_hidden_rule", "rewardGrpo_exact_number",
                "truthSft", "truthGrpo", "truthScoreSft", "truthScoreGrpo", "klFinal", "klRollout",
                "responseLengthSft", "responseLengthGrpo", "passAtKSft", "passAtKGrpo", "rewardErrors")) {
            assertNotNull(m.get(key), key + " missing from " + m);
            assertTrue(Double.isFinite(m.get(key)), key + " = " + m.get(key));
        }
        assertTrue(m.get("klFinal") > 0, "the policy moved and the exact KL says so: " + m);
        assertTrue(m.get("passAtKSft") >= m.get("truthSft") - 1e-9, "pass@2 counts the single-sample draws too: " + m);
        assertEquals(0.0, m.get("rewardErrors"));
        assertEquals(m.get("rewardGrpo"), resumed.metrics().get("rewardGrpo"));
        assertEquals(m.get("klFinal"), resumed.metrics().get("klFinal"));
        assertEquals(2, straight.samples().size());
        assertTrue(straight.samples().get(0).contains("\nSFT (reward ") && straight.samples().get(0).contains("\nGRPO (reward "),
                straight.samples().get(0));
        // The output is a plain GPT-2 that the next user of it (generate, another stage) loads.
        ParentModel out = ParentModel.load(store("straight", "grpo"), straight.checkpoint());
        assertFalse(out.weights().containsKey("score.weight"));
    }

    @Test
    void aFailingCustomVerifierCostsOnlyTheRepliesItFailsOnAndBetaZeroHoldsNoReference() throws Exception {
        ObjectNode spec = with(spec(""), """
                rewards:
                  - {type: custom, class: forge.stage.grpo.FlakyVerifier, field: answer, on_error: -1.0}
                  - {type: reward_model, weight: 0.1}
                kl: {coef: 0.0}
                grpo: {group_size: 2, loss: sequence, scale_rewards: false}
                """);
        ((ObjectNode) spec.get("train")).put("max_steps", 2);
        StageOutcome out = run(spec, "flaky", StageControl.NONE);
        assertTrue(out.completed());
        Map<String, Double> m = out.metrics();
        assertTrue(m.get("rewardErrors") > 0, "odd-length replies fail the verifier and are counted: " + m);
        assertFalse(m.containsKey("klRollout"), "β = 0: no reference model, no sampled KL: " + m);
        assertTrue(m.get("klFinal") > 0, "the held-out KL is still measured, against the SFT weights: " + m);
        assertTrue(m.containsKey("rewardGrpo_reward_model") && m.containsKey("rewardGrpo_custom"), m.toString());
    }

    @Test
    void refusesBadInputByName() throws Exception {
        BadInputException e = assertThrows(BadInputException.class, () -> run(with(spec(""),
                "rewards: [{type: custom, class: com.example.NoSuchVerifier}]"), "no-class", StageControl.NONE));
        assertTrue(e.getMessage().startsWith("rewards[0].class: class com.example.NoSuchVerifier is not on the "
                + "worker's classpath"), e.getMessage());

        Path prompts = dir.resolve("prompts.jsonl");
        Files.writeString(prompts, """
                {"prompt": "What is 2 + 2?", "answer": "4"}
                {"prompt": "What is 3 + 3?"}
                """);
        ObjectNode noAnswer = with(spec(""), "rewards: [{type: exact_number}]");
        ((ObjectNode) noAnswer.get("data")).putArray("sources").addObject().put("path", prompts.toString());
        e = assertThrows(BadInputException.class, () -> run(noAnswer, "no-answer", StageControl.NONE));
        assertTrue(e.getMessage().contains("prompts.jsonl:2: no \"answer\" field, which rewards[0] (exact_number) "
                + "compares the reply with"), e.getMessage());

        Path answered = dir.resolve("answered.jsonl");
        Files.writeString(answered, "{\"prompt\": \"Name a prime.\", \"answer\": \"7\"}\n");
        ObjectNode notDemo = spec("");
        ((ObjectNode) notDemo.get("data")).putArray("sources").addObject().put("path", answered.toString());
        ((ObjectNode) notDemo.get("data")).putArray("validation").addObject().put("path", answered.toString());
        e = assertThrows(BadInputException.class, () -> run(notDemo, "not-demo", StageControl.NONE));
        assertTrue(e.getMessage().startsWith("rewards[0]: hidden_rule grades the demo world's questions only"),
                e.getMessage());

        for (String[] bad : new String[][] {
                {"rollout: {top_k: 5}", "rollout.top_k: must be 0 (off)"},
                {"rollout: {top_p: 0.9}", "rollout.top_p: must be 1.0 (off)"},
                {"grpo: {group_size: 1}", "grpo.group_size"},
                {"grpo: {loss: mean}", "grpo.loss"},
                {"grpo: {mini_batches: 64}", "grpo.mini_batches"},
                {"kl: {coef: -0.1}", "kl.coef"},
                {"rewards: []", "rewards: needs at least one"},
                {"rewards: [{type: exact_math}]", "rewards[0].type"},
                {"rewards: [{type: regex}]", "rewards[0].pattern: missing"},
                {"rewards: [{type: regex, pattern: \"(\"}]", "rewards[0].pattern: is not a valid regex"},
                {"rewards: [{type: hidden_rule, weight: 0}]", "rewards[0].weight"},
                {"rewards: [{type: hidden_rule}, {type: hidden_rule, name: hidden_rule}]", "rewards[1].name"},
                {"rewards: [{type: hidden_rule, feild: answer}]", "rewards[0].feild: unknown key"},
                {"eval: {pass_at_k: 1}", "eval.pass_at_k"}}) {
            ObjectNode s = with(spec(""), bad[0]);
            BadInputException err = assertThrows(BadInputException.class, () -> GrpoConfig.parse(s), bad[0]);
            assertTrue(err.getMessage().startsWith(bad[1]), bad[0] + " → " + err.getMessage());
        }
    }
}
