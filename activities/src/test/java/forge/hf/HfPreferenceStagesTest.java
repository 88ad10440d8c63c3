package forge.hf;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.chat.ChatEncoder;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.model.Gpt;
import forge.preference.EncodedGroup;
import forge.preference.PreferenceBatch;
import forge.preference.PreferenceBatchSampler;
import forge.preference.PreferenceEncoder;
import forge.preference.PreferenceGroup;
import forge.rollout.RolloutBatch;
import forge.stage.TinyStages;
import forge.stage.dpo.DpoConfig;
import forge.stage.dpo.DpoStage;
import forge.stage.grpo.GrpoConfig;
import forge.stage.grpo.GrpoStage;
import forge.stage.ppo.PpoConfig;
import forge.stage.ppo.PpoStage;
import forge.stage.reward.RewardConfig;
import forge.stage.reward.RewardStage;
import forge.tokenizer.PretrainedTokenizer;
import forge.tokenizer.SpecialToken;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainingMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reward, PPO (policy, reference and critic), GRPO and DPO each start from a transformers-written checkpoint
 * ({@code init_from: {hf: dir}}) and run a few steps through the real stage code. The fixtures' special tokens are
 * not Forge's (pad {@code <|endoftext|>} 0, eos and end of turn {@code <|im_end|>} 2, where Forge's pad 1 and end 6
 * are ordinary ChatML tokens), so every place that pads, stops or reads a score must take them from the checkpoint.
 * The reward model is exported as {@code ...ForSequenceClassification} with pad_token_id, and scores read as
 * transformers reads them (the last token that is not pad_token_id) equal the scores the stage printed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HfPreferenceStagesTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SCORED = Pattern.compile("^([+-]\\d+\\.\\d\\d)  (.*)$");
    @TempDir
    static Path dir;
    TinyStages stages;

    @BeforeAll
    void up() {
        stages = new TinyStages(dir);
    }

    @AfterAll
    void down() {
        stages.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "qwen2"})
    void preferenceAndRlStagesStartFromTheCheckpoint(String name) throws Exception {
        String hf = HfFixtures.dir(name).toString().replace("\\", "/");
        HfCheckpoint parent = HfCheckpoint.read(HfFiles.local(HfFixtures.dir(name)));
        PretrainedTokenizer tok = (PretrainedTokenizer) parent.tokenizer();
        int pad = tok.tokenId("<|endoftext|>");
        int imEnd = tok.tokenId("<|im_end|>");
        assertEquals(pad, tok.id(SpecialToken.PAD));
        assertEquals(imEnd, ChatEncoder.endOfTurn(tok), "the template closes a turn with <|im_end|>");

        // Preference encoding: the reply follows the template's generation prompt and ends with <|im_end|>.
        PreferenceEncoder encoder = new PreferenceEncoder(tok, parent.config().blockSize(), null);
        EncodedGroup g = encoder.encode(new PreferenceGroup(List.of(forge.chat.Turn.user("Who art thou?")),
                List.of("A friend.", "Nobody"), List.of(new PreferenceGroup.Pair(0, 1, 0))));
        int[] prompt = ChatEncoder.prompt(tok, "Who art thou?", Integer.MAX_VALUE);
        assertEquals(prompt.length, g.promptLength());
        for (int[] s : g.sequences()) {
            assertArrayEquals(prompt, Arrays.copyOf(s, prompt.length));
            assertEquals(imEnd, s[s.length - 1]);
        }
        PreferenceBatch b = new PreferenceBatchSampler(List.of(g), parent.config().blockSize(), 1, pad)
                .sequential(1).get(0);
        assertEquals(pad, b.sequences()[b.blockSize() - 1], "rows are padded with the checkpoint's pad");
        assertArrayEquals(new int[] {prompt.length, prompt.length}, b.replyStart());

        // Reward: trained from the checkpoint, exported as seq-cls, scored as transformers would score it.
        String reward = run(name, "reward", new RewardStage(RewardConfig.parse(spec(hf, """
                seed: 9
                data: {sources: [{path: "demo:prefs?seed=7&count=40"}, {path: "demo:ranked?seed=7&count=10&k=3"}]}
                train: {max_steps: 3, batch_size: 2, warmup_steps: 1, learning_rate: 2.0e-3}
                eval: {interval: 3, batches: 2}
                sample: {count: 2}
                """)), null, store(name, "reward"), stages.storage, metrics(name, "reward"), null));
        LoadedCheckpoint rewardFinal = store(name, "reward").loadFinal().orElseThrow();
        JsonNode config = JSON.readTree(rewardFinal.file("config.json"));
        String seqCls = name.equals("llama") ? "LlamaForSequenceClassification" : "Qwen2ForSequenceClassification";
        assertEquals(seqCls, config.get("architectures").get(0).asText());
        assertEquals(1, config.get("num_labels").asInt());
        assertEquals(pad, config.get("pad_token_id").asInt(), "transformers finds the last token by pad_token_id");
        HfCheckpoint exported = HfCheckpoint.read(HfFiles.of(rewardFinal.files(), rewardFinal.uri().toString()));
        assertArrayEquals(new long[] {1, parent.config().nEmbd()}, exported.weights().get("score.weight").shape());
        assertExportScoresAsPrinted(exported, config.get("pad_token_id").asInt(),
                JSON.readValue(rewardFinal.file("samples.json"), String[].class));

        // PPO: policy and reference from the checkpoint, critic from the reward model trained above.
        StageOutcome ppo = outcome(name, "ppo", new PpoStage(PpoConfig.parse(spec(hf, """
                seed: 3
                data:
                  sources: [{path: "demo:prompts?seed=7&count=16"}]
                  validation: [{path: "demo:prompts?seed=7&count=4&split=held_out"}]
                rollout: {max_new_tokens: 8}
                ppo: {epochs: 1, mini_batches: 1}
                reward: {missing_eos_penalty: 1.0}
                train: {max_steps: 2, batch_size: 4, learning_rate: 1.0e-4}
                eval: {interval: 2, prompts: 4}
                sample: {count: 1}
                """)), null, reward, store(name, "ppo"), stages.storage, metrics(name, "ppo"), null));
        assertCausalLmExport(name, "ppo", ppo, imEnd);

        StageOutcome grpo = outcome(name, "grpo", new GrpoStage(GrpoConfig.parse(spec(hf, """
                seed: 3
                data:
                  sources: [{path: "demo:prompts?seed=7&count=16"}]
                  validation: [{path: "demo:prompts?seed=7&count=4&split=held_out"}]
                rollout: {max_new_tokens: 8}
                rewards: [{type: hidden_rule}, {type: reward_model, weight: 0.5}]
                grpo: {group_size: 2, epochs: 1, mini_batches: 1}
                train: {max_steps: 2, batch_size: 2, learning_rate: 1.0e-4}
                eval: {interval: 2, prompts: 4, pass_at_k: 2}
                sample: {count: 1}
                """)), null, reward, store(name, "grpo"), stages.storage, metrics(name, "grpo"), null));
        assertCausalLmExport(name, "grpo", grpo, imEnd);

        StageOutcome dpo = outcome(name, "dpo", new DpoStage(DpoConfig.parse(spec(hf, """
                seed: 3
                data:
                  sources: [{path: "demo:prefs?seed=7&count=30"}]
                  questions: [{path: "demo:prompts?seed=7&count=4&split=held_out"}]
                  val_fraction: 0.2
                rollout: {max_new_tokens: 8}
                train: {max_steps: 2, batch_size: 2, learning_rate: 1.0e-3}
                eval: {interval: 2, batches: 1, prompts: 4}
                sample: {count: 1}
                """)), null, store(name, "dpo"), stages.storage, metrics(name, "dpo"), null));
        assertCausalLmExport(name, "dpo", dpo, imEnd);
    }

    /**
     * Each printed "+0.12  response" of the reward stage's samples, re-scored from the export alone (config.json's
     * shape, model.safetensors, tokenizer): all of a sample's responses right-padded with pad_token_id in one batch,
     * read where transformers reads them.
     */
    private static void assertExportScoresAsPrinted(HfCheckpoint exported, int padTokenId, String[] samples) {
        PreferenceEncoder encoder = new PreferenceEncoder(exported.tokenizer(), exported.config().blockSize(), null);
        int checked = 0;
        try (NDManager m = NDManager.newBaseManager();
             Gpt model = Gpt.fromWeights(m, exported.config(), exported.weights())) {
            assertTrue(model.hasScoreHead());
            for (String sample : samples) {
                String[] lines = sample.split("\n");
                String question = lines[0].substring("Q: ".length());
                List<int[]> seqs = new ArrayList<>();
                List<Double> printed = new ArrayList<>();
                for (int i = 1; i < lines.length; i++) {
                    Matcher x = SCORED.matcher(lines[i]);
                    assertTrue(x.matches(), lines[i]);
                    printed.add(Double.parseDouble(x.group(1)));
                    seqs.add(encoder.sequence(question, x.group(2)));
                }
                int w = seqs.stream().mapToInt(s -> s.length).max().orElseThrow();
                float[] scores = model.scores(RolloutBatch.padded(m, seqs, w, padTokenId), false).toFloatArray();
                for (int r = 0; r < seqs.size(); r++) {
                    // transformers: the last position whose id is not pad_token_id.
                    int[] seq = seqs.get(r);
                    int last = w - 1;
                    while (last > 0 && (last >= seq.length || seq[last] == padTokenId)) {
                        last--;
                    }
                    assertEquals(printed.get(r), scores[r * w + last], 0.0051, sample);
                    checked++;
                }
            }
        }
        assertTrue(checked >= 2, "the stage printed scored responses");
    }

    private void assertCausalLmExport(String name, String stage, StageOutcome out, int imEnd) throws Exception {
        assertTrue(out.completed(), stage);
        assertEquals(2, out.step(), stage);
        assertFalse(out.samples().isEmpty(), stage + " printed a sample");
        LoadedCheckpoint fin = store(name, stage).loadFinal().orElseThrow();
        JsonNode config = JSON.readTree(fin.file("config.json"));
        assertTrue(config.get("architectures").get(0).asText().endsWith("ForCausalLM"), stage + ": " + config);
        assertEquals(imEnd, config.get("eos_token_id").asInt(), stage + ": stops where the pipeline stopped");
        HfCheckpoint.read(HfFiles.of(fin.files(), fin.uri().toString()));
    }

    private static ObjectNode spec(String hf, String yaml) throws Exception {
        ObjectNode spec = (ObjectNode) YAML.readTree(yaml);
        spec.set("init_from", YAML.readTree("{hf: \"" + hf + "\"}"));
        spec.set("checkpoint", YAML.readTree("{interval_steps: 100, interval_seconds: 3600, keep_last: 2}"));
        return spec;
    }

    private String run(String name, String stage, RewardStage s) {
        StageOutcome out = outcome(name, stage, s);
        assertTrue(out.completed(), stage);
        return out.checkpoint();
    }

    private static StageOutcome outcome(String name, String stage, Object s) {
        long t0 = System.nanoTime();
        StageOutcome out;
        if (s instanceof RewardStage r) {
            out = r.run(StageControl.NONE);
        } else if (s instanceof PpoStage p) {
            out = p.run(StageControl.NONE);
        } else if (s instanceof GrpoStage g) {
            out = g.run(StageControl.NONE);
        } else {
            out = ((DpoStage) s).run(StageControl.NONE);
        }
        System.out.printf("%s %s: %.1f s%n", name, stage, (System.nanoTime() - t0) / 1e9);
        return out;
    }

    private CheckpointStore store(String name, String stage) {
        return stages.store(name, stage);
    }

    private static TrainingMetrics metrics(String name, String stage) {
        return new TrainingMetrics(new SimpleMeterRegistry(), name, stage);
    }
}
