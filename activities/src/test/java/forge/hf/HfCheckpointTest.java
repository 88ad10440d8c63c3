package forge.hf;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import forge.model.GenerationOptions;
import forge.model.Gpt;
import forge.generation.CheckpointGenerator;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.tokenizer.PretrainedTokenizer;
import forge.train.ParentModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.URI;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each fixture checkpoint, read as from_pretrained reads it, computes what transformers computed: the same token ids,
 * logits, loss and greedy tokens.
 *
 * <p>Tolerance of the logits: 1e-4 absolute. Both sides run float32 on CPU, but the matmuls may sum in another order
 * (oneDNN vs. the reference build's BLAS, fused vs. separate q/k/v), which moves a float32 sum of 64-160 products of
 * unit-scale numbers by a few ulps per layer; logits of these models are O(10), where an ulp is about 1e-6, so a few
 * dozen ulps through two layers stay well under 1e-4. A wrong eps, GELU variant, RoPE layout or scaling is off by
 * 1e-3 or more. The greedy tokens must match exactly.
 */
class HfCheckpointTest {
    private static final double LOGIT_TOL = 1e-4;
    static NDManager root;

    @BeforeAll
    static void setUp() {
        root = NDManager.newBaseManager();
    }

    @AfterAll
    static void tearDown() {
        root.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama", "llama3", "qwen2"})
    void matchesTransformers(String name) {
        JsonNode ref = HfFixtures.reference(name);
        HfCheckpoint ckpt = HfCheckpoint.read(HfFiles.local(HfFixtures.dir(name)));
        PretrainedTokenizer tok = (PretrainedTokenizer) ckpt.tokenizer();
        try (NDManager m = root.newSubManager(); Gpt model = Gpt.fromWeights(m, ckpt.config(), ckpt.weights())) {
            for (JsonNode text : ref.get("texts")) {
                int[] ids = HfFixtures.ints(text.get("ids"));
                assertArrayEquals(ids, tok.encode(text.get("text").asText()), name + ": token ids");
                assertEquals(text.get("text").asText(), tok.decode(ids), name + ": decode");
                try (NDManager step = m.newSubManager()) {
                    long[] l = Arrays.stream(ids).asLongStream().toArray();
                    NDArray logits = model.forward(step.create(l, new Shape(1, l.length)), false); // (1, T, V)
                    for (int t = 0; t < 3; t++) {
                        assertClose(HfFixtures.floats(text.get("logits_first3").get(t)),
                                logits.get(new NDIndex("0, {}", t)).toFloatArray(), name + " logits at " + t);
                    }
                    assertClose(HfFixtures.floats(text.get("logits_last")),
                            logits.get(new NDIndex("0, -1")).toFloatArray(), name + " logits at last");
                    NDArray inputs = logits.get(new NDIndex(":, :-1"));
                    NDArray targets = step.create(Arrays.copyOfRange(l, 1, l.length), new Shape(1, l.length - 1));
                    float loss = Gpt.crossEntropy(inputs, targets, null).getFloat();
                    assertEquals(text.get("loss").asDouble(), loss, 1e-5, name + ": loss");
                }
            }
            JsonNode raw = ref.get("raw");
            int[] rawPrompt = HfFixtures.ints(raw.get("prompt_ids"));
            assertArrayEquals(rawPrompt, tok.encode(raw.get("prompt").asText()), name + ": raw prompt ids");
            assertGreedy(model, rawPrompt, HfFixtures.ints(raw.get("greedy_new_ids")), name + " raw");
            assertEquals(raw.get("greedy_text").asText(), tok.decode(HfFixtures.ints(raw.get("greedy_new_ids"))));

            JsonNode chat = ref.get("chat");
            int[] chatPrompt = HfFixtures.ints(chat.get("prompt_ids"));
            assertArrayEquals(chatPrompt, tok.encodeWithSpecials(chat.get("prompt").asText(), null),
                    name + ": chat prompt ids");
            assertGreedy(model, chatPrompt, HfFixtures.ints(chat.get("greedy_new_ids")), name + " chat");
        }
    }

    /** What `forge generate DIR --raw --temperature 0` runs: a local directory is read as a Hugging Face one. */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "qwen2"})
    void generateReadsAHuggingFaceDirectory(String name) {
        JsonNode raw = HfFixtures.reference(name).get("raw");
        String dir = HfFixtures.dir(name).toString();
        try (S3Storage storage = new S3Storage(S3Settings.local(URI.create("http://127.0.0.1:9"), "unused", "p"));
             CheckpointGenerator g = CheckpointGenerator.load(ParentModel.reader(storage, dir),
                     ParentModel.resolve(dir, storage))) {
            CheckpointGenerator.Generation out = g.sample(List.of(raw.get("prompt").asText()), 1,
                    new GenerationOptions(raw.get("greedy_new_ids").size(), 0, 0, 1, -1, true), 0, false);
            assertEquals(raw.get("greedy_text").asText(), out.replies().get(0).text());
        }
    }

    private static void assertGreedy(Gpt model, int[] prompt, int[] expectedNew, String what) {
        for (boolean cache : new boolean[] {true, false}) {
            int[] out = model.generate(prompt, new GenerationOptions(expectedNew.length, 0, 0, 1, -1, cache), 0);
            assertArrayEquals(expectedNew, Arrays.copyOfRange(out, prompt.length, out.length),
                    what + " greedy tokens (kv cache " + cache + ")");
        }
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs(expected[i] - actual[i]);
            if (d > worst) {
                worst = d;
                at = i;
            }
        }
        assertTrue(worst <= LOGIT_TOL, what + ": max |diff| " + worst + " at " + at + " (expected " +
                (at >= 0 ? expected[at] + ", got " + actual[at] : "") + ")");
    }
}
