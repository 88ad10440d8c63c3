package forge.generation;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.CheckpointFile;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.generation.CheckpointGenerator.Generation;
import forge.generation.CheckpointGenerator.Reply;
import forge.model.GenerationOptions;
import forge.model.Gpt;
import forge.model.LoraConfig;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.pretrain.PretrainStageTest;
import forge.stage.reward.RewardConfig;
import forge.stage.reward.RewardStage;
import forge.stage.reward.RewardStageTest;
import forge.storage.EmbeddedS3;
import forge.storage.LocalS3;
import forge.storage.S3Storage;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.train.ParentModel;
import forge.train.StageControl;
import forge.train.TrainingMetrics;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What {@code ./forge generate} does, without the CLI: load any stage's checkpoint and sample from it. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CheckpointGeneratorTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> PROMPTS = List.of("What is 3 + 4?", "Tom has", "What is 12 times 2?");

    @TempDir
    static Path dir;
    EmbeddedS3 s3;
    S3Storage storage;
    String pretrain;
    String reward;

    @BeforeAll
    void up() throws Exception {
        s3 = LocalS3.start(dir);
        storage = new S3Storage(s3.settings("runs"), LocalS3.testOptions());
        JsonNode spec = YAML.readTree("""
                seed: 5
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 128}
                tokenizer: {type: char}
                data: {sources: [{path: "demo:pretrain?seed=7&docs=800"}]}
                train: {max_steps: 30, batch_size: 4, warmup_steps: 5}
                eval: {interval: 30, batches: 2}
                sample: {count: 0}
                """);
        pretrain = new PretrainStage(PretrainConfig.parse(spec), store("run", "pretrain"), storage,
                PretrainStageTest.metrics(), null).run(StageControl.NONE).checkpoint();
        ObjectNode rewardSpec = RewardStageTest.spec("");
        ((ObjectNode) rewardSpec.get("train")).put("max_steps", 4).put("warmup_steps", 1);
        ((ObjectNode) rewardSpec.get("eval")).put("interval", 4).put("batches", 1);
        ((ObjectNode) rewardSpec.get("sample")).put("count", 0);
        reward = new RewardStage(RewardConfig.parse(rewardSpec), pretrain, store("run", "reward"), storage,
                new TrainingMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry(), "run", "reward"),
                null).run(StageControl.NONE).checkpoint();
    }

    @AfterAll
    void down() {
        storage.close();
        s3.close();
    }

    CheckpointStore store(String run, String stage) {
        return new CheckpointStore(storage, s3.settings("runs").stageRoot(run, stage), 2);
    }

    CheckpointGenerator load(String uri) {
        return CheckpointGenerator.load(store("run", "any"), uri);
    }

    static GenerationOptions sampling(int maxNew, boolean cached) {
        return new GenerationOptions(maxNew, 0.9, 20, 0.95, -1, cached);
    }

    @Test
    void theSameSeedGivesTheSameSamples() {
        try (CheckpointGenerator g = load(pretrain)) {
            assertEquals("pretrain", g.stage());
            assertFalse(g.chatByDefault(), "a pretrained model continues text");
            for (boolean chat : new boolean[] {false, true}) {
                Generation a = g.sample(PROMPTS, 2, sampling(20, true), 7, chat);
                Generation b = g.sample(PROMPTS, 2, sampling(20, true), 7, chat);
                Generation other = g.sample(PROMPTS, 2, sampling(20, true), 8, chat);
                assertEquals(PROMPTS.size() * 2, a.replies().size());
                assertEquals(texts(a), texts(b));
                assertNotEquals(texts(a), texts(other), "another seed, other samples");
                assertNotEquals(a.replies().get(0).text(), a.replies().get(1).text(), "two samples of one prompt");
                for (Reply r : a.replies()) {
                    assertTrue(r.newTokens() >= 1 && r.newTokens() <= 20, r.toString());
                    assertEquals(0, r.croppedTokens());
                }
                assertTrue(a.tokensPerSecond() > 0);
            }
            assertEquals(g.generate(PROMPTS, sampling(20, true), 7, false),
                    texts(g.sample(PROMPTS, 1, sampling(20, true), 7, false)));
        }
    }

    @Test
    void theKvCacheChangesNothingAndLongPromptsLoseTheirStart() {
        String longPrompt = "Once upon a time there was a number. ".repeat(8); // over 128 - 24 characters
        List<String> prompts = new ArrayList<>(PROMPTS);
        prompts.add(longPrompt);
        try (CheckpointGenerator g = load(pretrain)) {
            for (boolean chat : new boolean[] {false, true}) {
                Generation cached = g.sample(prompts, 1, GenerationOptions.greedy(24), 1, chat);
                GenerationOptions uncached = new GenerationOptions(24, 0, 0, 1, -1, false);
                assertEquals(texts(cached), texts(g.sample(prompts, 1, uncached, 1, chat)), "chat " + chat);
                // So does sampling with the same seed (the sampler runs on the host with the seed's own RNG).
                assertEquals(texts(g.sample(prompts, 2, sampling(24, true), 3, chat)),
                        texts(g.sample(prompts, 2, sampling(24, false), 3, chat)), "chat " + chat);
                Reply cropped = cached.replies().get(3);
                assertEquals(128 - 24, cropped.promptTokens());
                assertEquals((chat ? 3 : 1) + longPrompt.length() - (128 - 24), cropped.croppedTokens(),
                        "char tokenizer: one token per character, plus the template's special tokens");
                // Greedy does not depend on the seed.
                assertEquals(texts(cached), texts(g.sample(prompts, 1, GenerationOptions.greedy(24), 99, chat)));
            }
        }
    }

    @Test
    void aRewardCheckpointLoadsAndAnswersInTheChatTemplate() {
        assertTrue(Safetensors.read(store("run", "reward").loadFinal().orElseThrow().file("model.safetensors"))
                .containsKey("score.weight"));
        try (CheckpointGenerator g = load(reward)) {
            assertEquals("reward", g.stage());
            assertTrue(g.chatByDefault());
            List<String> replies = g.generate(PROMPTS, GenerationOptions.greedy(16), 1, g.chatByDefault());
            assertEquals(PROMPTS.size(), replies.size());
            Reply r = g.sample(PROMPTS.subList(0, 1), 1, GenerationOptions.greedy(16), 1, true).replies().get(0);
            assertTrue(r.newTokens() >= 1, r.toString());
        }
    }

    /** A LoRA fine-tune's step checkpoint holds base weights and adapters; generation merges them like final/. */
    @Test
    void aLoraStepCheckpointGeneratesAsItsMergedWeights() throws Exception {
        LoadedCheckpoint base = store("run", "pretrain").loadFinal().orElseThrow();
        ParentModel parent = ParentModel.load(store("run", "pretrain"), pretrain);
        Map<String, HostTensor> withAdapters;
        Map<String, HostTensor> merged;
        try (NDManager m = NDManager.newBaseManager(); Gpt gpt = Gpt.create(m, parent.config(), 0)) {
            parent.loadInto(gpt);
            gpt.addLora(new LoraConfig(4, 8, List.of("c_attn", "c_fc")), 3);
            withAdapters = new LinkedHashMap<>(gpt.snapshot());
            SplittableRandom rng = new SplittableRandom(11);
            withAdapters.replaceAll((name, t) -> {
                if (!name.contains("lora_B")) {
                    return t;
                }
                float[] v = new float[t.toFloatArray().length];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (rng.nextGaussian() * 0.2);
                }
                return HostTensor.f32(t.shape(), v);
            });
            gpt.load(withAdapters);
            gpt.mergeLora();
            merged = gpt.snapshot();
        }
        ObjectNode state = (ObjectNode) JSON.readTree(base.file("state.json"));
        state.put("stage", "sft");
        state.set("config", YAML.readTree("{method: lora, lora: {rank: 4, alpha: 8.0, targets: [c_attn, c_fc]}}"));
        String step = commit("lora", CheckpointStore.stepDir(10), base, withAdapters, JSON.writeValueAsBytes(state));
        String fin = commit("lora", CheckpointStore.FINAL, base, merged, JSON.writeValueAsBytes(state));
        try (CheckpointGenerator a = load(step); CheckpointGenerator b = load(fin);
             CheckpointGenerator original = load(pretrain)) {
            assertTrue(a.chatByDefault());
            for (GenerationOptions o : List.of(GenerationOptions.greedy(16), sampling(16, true))) {
                List<String> fromStep = a.generate(PROMPTS, o, 1, true);
                assertEquals(b.generate(PROMPTS, o, 1, true), fromStep, o.toString());
            }
            assertNotEquals(original.generate(PROMPTS, sampling(16, true), 1, true),
                    a.generate(PROMPTS, sampling(16, true), 1, true), "the adapters change the model");
        }
        // Without the adapters' rank and alpha it cannot merge them, and says what to do instead.
        String bare = commit("lora-bare", CheckpointStore.stepDir(10), base, withAdapters, base.file("state.json"));
        BadInputException e = assertThrows(BadInputException.class, () -> load(bare));
        assertTrue(e.getMessage().contains("LoRA") && e.getMessage().contains("final/"), e.getMessage());
    }

    @Test
    void badOptionsNameTheOption() {
        assertField("generate.temperature", () -> new GenerationOptions(8, -0.5, 0, 1, -1, true));
        assertField("generate.temperature", () -> new GenerationOptions(8, Double.NaN, 0, 1, -1, true));
        assertField("generate.top_p", () -> new GenerationOptions(8, 1, 0, 0, -1, true));
        assertField("generate.top_p", () -> new GenerationOptions(8, 1, 0, 1.5, -1, true));
        assertField("generate.top_k", () -> new GenerationOptions(8, 1, -1, 1, -1, true));
        assertField("generate.max_new_tokens", () -> new GenerationOptions(-1, 1, 0, 1, -1, true));
        try (CheckpointGenerator g = load(pretrain)) {
            assertField("generate.samples", () -> g.sample(PROMPTS, 0, GenerationOptions.greedy(4), 1, false));
            assertField("generate.prompt", () -> g.generate(List.of(), GenerationOptions.greedy(4), 1, false));
        }
        BadInputException e = assertThrows(BadInputException.class,
                () -> load(pretrain.replace("/final", "/step-000000999")));
        assertTrue(e.getMessage().contains("missing or corrupt"), e.getMessage());
    }

    private static void assertField(String field, Executable call) {
        BadInputException e = assertThrows(BadInputException.class, call);
        assertTrue(e.getMessage().startsWith(field + ":"), e.getMessage());
    }

    private static List<String> texts(Generation g) {
        return g.replies().stream().map(Reply::text).toList();
    }

    private String commit(String run, String dirName, LoadedCheckpoint base, Map<String, HostTensor> weights,
                          byte[] state) {
        List<CheckpointFile> files = List.of(
                new CheckpointFile("model.safetensors", Safetensors.write(weights, Map.of("format", "pt"))),
                new CheckpointFile("tokenizer.json", base.file("tokenizer.json")),
                new CheckpointFile("config.json", base.file("config.json")),
                new CheckpointFile("state.json", state));
        return store(run, "sft").commit(dirName, files).toString();
    }
}
