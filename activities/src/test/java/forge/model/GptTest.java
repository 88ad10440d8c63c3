package forge.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.errors.BadInputException;
import forge.optim.AdamW;
import forge.optim.AdamWConfig;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GptTest {
    static final GptConfig TINY = new GptConfig(11, 8, 2, 2, 16, 0.0, true);
    static NDManager root;

    @BeforeAll
    static void setUp() {
        root = NDManager.newBaseManager();
    }

    @AfterAll
    static void tearDown() {
        root.close();
    }

    static NDArray tokens(NDManager m, long[][] rows) {
        long[] flat = Arrays.stream(rows).flatMapToLong(Arrays::stream).toArray();
        return m.create(flat, new Shape(rows.length, rows[0].length));
    }

    /** Weights far from init (std 0.3, random LayerNorm gains and biases) so that every term matters. */
    static Map<String, HostTensor> randomWeights(GptConfig cfg, long seed) {
        Random r = new Random(seed);
        Map<String, HostTensor> out = new LinkedHashMap<>();
        Gpt.parameterShapes(cfg).forEach((name, shape) -> {
            float[] v = new float[(int) HostTensor.numel(shape)];
            boolean gain = name.contains("ln_") && name.endsWith(".weight");
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((gain ? 1 : 0) + 0.3 * r.nextGaussian());
            }
            out.put(name, HostTensor.f32(shape, v));
        });
        return out;
    }

    @Test
    void parametersUseHuggingFaceNamesAndLayout() {
        try (Gpt g = Gpt.create(root, TINY, 1)) {
            LinkedHashMap<String, NDArray> p = g.parameters();
            assertEquals(List.of("wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias",
                    "h.0.attn.c_attn.weight", "h.0.attn.c_attn.bias", "h.0.attn.c_proj.weight",
                    "h.0.attn.c_proj.bias", "h.0.ln_2.weight", "h.0.ln_2.bias", "h.0.mlp.c_fc.weight",
                    "h.0.mlp.c_fc.bias", "h.0.mlp.c_proj.weight", "h.0.mlp.c_proj.bias"),
                    List.copyOf(p.keySet()).subList(0, 14));
            assertEquals(List.of("ln_f.weight", "ln_f.bias"), List.copyOf(p.keySet()).subList(p.size() - 2, p.size()));
            assertEquals(new Shape(16, 48), p.get("h.1.attn.c_attn.weight").getShape());
            assertEquals(new Shape(64, 16), p.get("h.1.mlp.c_proj.weight").getShape());
            assertEquals(new Shape(11, 16), p.get("wte.weight").getShape());
            assertEquals(new Shape(8, 16), p.get("wpe.weight").getShape());
            p.values().forEach(a -> assertTrue(a.hasGradient()));
        }
        try (Gpt g = Gpt.create(root, new GptConfig(11, 8, 1, 2, 16, 0, false), 1)) {
            assertTrue(g.parameters().keySet().stream().noneMatch(n -> n.endsWith(".bias")));
        }
    }

    @Test
    void initIsGpt2sAndDependsOnlyOnTheSeed() {
        GptConfig cfg = new GptConfig(50, 16, 2, 2, 64, 0, true);
        try (Gpt a = Gpt.create(root, cfg, 7); Gpt b = Gpt.create(root, cfg, 7); Gpt c = Gpt.create(root, cfg, 8)) {
            Map<String, HostTensor> sa = a.snapshot();
            assertEquals(sa, b.snapshot());
            assertNotEquals(sa.get("wte.weight"), c.snapshot().get("wte.weight"));
            assertEquals(0.02, std(sa.get("wte.weight").toFloatArray()), 0.002);
            assertEquals(0.02 / Math.sqrt(4), std(sa.get("h.1.attn.c_proj.weight").toFloatArray()), 0.001);
            assertEquals(0.02 / Math.sqrt(4), std(sa.get("h.0.mlp.c_proj.weight").toFloatArray()), 0.001);
            assertEquals(0.02, std(sa.get("h.0.mlp.c_fc.weight").toFloatArray()), 0.001);
            for (float v : sa.get("h.0.ln_1.weight").toFloatArray()) {
                assertEquals(1f, v);
            }
            for (float v : sa.get("h.0.attn.c_attn.bias").toFloatArray()) {
                assertEquals(0f, v);
            }
        }
    }

    private static double std(float[] v) {
        double s = 0;
        double s2 = 0;
        for (float x : v) {
            s += x;
            s2 += x * x;
        }
        double mean = s / v.length;
        return Math.sqrt(s2 / v.length - mean * mean);
    }

    @Test
    void forwardMatchesAPlainJavaGpt2() {
        for (boolean bias : new boolean[] {true, false}) {
            GptConfig cfg = new GptConfig(11, 8, 2, 2, 16, 0.0, bias);
            Map<String, HostTensor> w = randomWeights(cfg, 3);
            ReferenceGpt ref = new ReferenceGpt(cfg, w);
            try (Gpt g = Gpt.create(root, cfg, 1); NDManager m = root.newSubManager()) {
                g.load(w);
                int[] seq = {3, 1, 4, 1, 5, 9, 2, 6};
                NDArray logits = g.forward(tokens(m, new long[][] {Arrays.stream(seq).asLongStream().toArray()}),
                        false);
                assertEquals(new Shape(1, 8, 11), logits.getShape());
                float[] got = logits.toFloatArray();
                double[][] want = ref.forward(seq);
                for (int t = 0; t < 8; t++) {
                    for (int v = 0; v < 11; v++) {
                        assertEquals(want[t][v], got[t * 11 + v], 1e-4 * Math.max(1, Math.abs(want[t][v])),
                                "bias=" + bias + " t=" + t + " v=" + v);
                    }
                }
            }
        }
    }

    @Test
    void futureTokensDoNotChangePastLogits() {
        try (Gpt g = Gpt.create(root, TINY, 2); NDManager m = root.newSubManager()) {
            g.load(randomWeights(TINY, 5));
            long[][] a = {{1, 2, 3, 4, 5, 6, 7, 8}, {8, 7, 6, 5, 4, 3, 2, 1}};
            long[][] b = {{1, 2, 3, 4, 0, 0, 10, 10}, {8, 7, 6, 5, 9, 9, 9, 9}};
            float[] la = g.forward(tokens(m, a), false).toFloatArray();
            float[] lb = g.forward(tokens(m, b), false).toFloatArray();
            for (int row = 0; row < 2; row++) {
                for (int t = 0; t < 8; t++) {
                    float maxDiff = 0;
                    for (int v = 0; v < 11; v++) {
                        int i = (row * 8 + t) * 11 + v;
                        maxDiff = Math.max(maxDiff, Math.abs(la[i] - lb[i]));
                    }
                    if (t <= 3) {
                        assertEquals(0f, maxDiff, 1e-6, "row " + row + " position " + t + " saw the future");
                    } else {
                        assertTrue(maxDiff > 1e-3, "row " + row + " position " + t + " ignored its input");
                    }
                }
            }
        }
    }

    @Test
    void incrementalLogitsWithTheCacheEqualAFullForward() {
        try (Gpt g = Gpt.create(root, TINY, 2); NDManager m = root.newSubManager()) {
            g.load(randomWeights(TINY, 6));
            long[][] seq = {{1, 2, 3, 4, 5, 6, 7, 8}, {0, 10, 0, 10, 3, 3, 2, 1}};
            float[] full = g.forward(tokens(m, seq), false).toFloatArray();
            try (KvCache cache = g.newCache(2)) {
                int[][] chunks = {{0, 3}, {3, 4}, {4, 6}, {6, 7}, {7, 8}};
                for (int[] ch : chunks) {
                    long[][] part = new long[2][];
                    for (int r = 0; r < 2; r++) {
                        part[r] = Arrays.copyOfRange(seq[r], ch[0], ch[1]);
                    }
                    float[] inc = g.forward(tokens(m, part), cache).toFloatArray();
                    int len = ch[1] - ch[0];
                    assertEquals(ch[1], cache.length());
                    for (int r = 0; r < 2; r++) {
                        for (int t = 0; t < len; t++) {
                            for (int v = 0; v < 11; v++) {
                                assertEquals(full[(r * 8 + ch[0] + t) * 11 + v], inc[(r * len + t) * 11 + v], 1e-4);
                            }
                        }
                    }
                }
                assertThrows(IllegalArgumentException.class, () -> g.forward(tokens(m, new long[][] {{1}, {1}}), cache));
                cache.clear();
                assertEquals(0, cache.length());
            }
        }
    }

    @Test
    void generationGivesTheSameTokensWithAndWithoutTheCache() {
        try (Gpt g = Gpt.create(root, TINY, 2)) {
            g.load(randomWeights(TINY, 8));
            int[] prompt = {1, 2, 3};
            // 3 + 14 tokens runs well past block_size 8, through the cropped window.
            for (GenerationOptions o : List.of(
                    new GenerationOptions(14, 0, 0, 1, -1, false),
                    new GenerationOptions(14, 1.0, 0, 1, -1, false),
                    new GenerationOptions(14, 0.8, 5, 0.9, -1, false))) {
                GenerationOptions cached = new GenerationOptions(o.maxNewTokens(), o.temperature(), o.topK(), o.topP(),
                        o.stopToken(), true);
                int[] plain = g.generate(prompt, o, 42);
                assertEquals(17, plain.length);
                assertArrayEquals(new int[] {1, 2, 3}, Arrays.copyOf(plain, 3));
                assertArrayEquals(plain, g.generate(prompt, cached, 42), o.toString());
                assertArrayEquals(plain, g.generate(prompt, o, 42), "same seed, same tokens");
            }
            GenerationOptions sampled = new GenerationOptions(14, 1.5, 0, 1, -1, true);
            assertFalse(Arrays.equals(g.generate(prompt, sampled, 1), g.generate(prompt, sampled, 2)));
            // A prompt longer than block_size is cropped, not rejected.
            assertEquals(13, g.generate(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, GenerationOptions.greedy(3), 0)
                    .length);
        }
    }

    @Test
    void batchedGenerationMatchesOnePromptAtATime() {
        try (Gpt g = Gpt.create(root, TINY, 2)) {
            g.load(randomWeights(TINY, 8));
            int[][] prompts = {{1, 2, 3}, {7, 7, 0}, {10, 4, 4}};
            for (boolean cached : new boolean[] {true, false}) {
                GenerationOptions o = new GenerationOptions(9, 0.9, 6, 0.95, -1, cached);
                int[][] batch = g.generateBatch(prompts, o, 100);
                for (int r = 0; r < prompts.length; r++) {
                    assertArrayEquals(g.generate(prompts[r], o, 100 + r), batch[r], "row " + r);
                }
            }
            int[] free = g.generate(new int[] {7, 7, 0}, GenerationOptions.greedy(9), 0);
            int stop = free[5];
            int[][] stopped = g.generateBatch(prompts, new GenerationOptions(9, 0, 0, 1, stop, true), 0);
            int end = 3;
            while (free[end] != stop) {
                end++;
            }
            assertArrayEquals(Arrays.copyOf(free, end + 1), stopped[1]);
            assertThrows(BadInputException.class,
                    () -> g.generateBatch(new int[][] {{1, 2}, {}}, GenerationOptions.greedy(1), 0));
        }
    }

    @Test
    void promptsOfDifferentLengthsShareABatchThroughLeftPadding() {
        try (Gpt g = Gpt.create(root, TINY, 2)) {
            g.load(randomWeights(TINY, 8));
            int[][] ragged = {{1, 2, 3}, {7}, {10, 4, 4, 5, 6}, {9, 9}};
            int fits = TINY.blockSize() - 5;
            for (boolean cached : new boolean[] {true, false}) {
                for (GenerationOptions o : List.of(new GenerationOptions(fits, 0, 0, 1, -1, cached),
                        new GenerationOptions(fits, 0.9, 6, 0.95, -1, cached),
                        // Too long to pad: the window slides, so rows go in groups of equal length instead.
                        new GenerationOptions(fits + 4, 0, 0, 1, -1, cached))) {
                    int[][] batch = g.generateBatch(ragged, o, 100);
                    for (int r = 0; r < ragged.length; r++) {
                        assertArrayEquals(g.generate(ragged[r], o, 100 + r), batch[r], "row " + r + " " + o);
                    }
                }
            }
        }
    }

    @Test
    void generationStopsAfterTheStopToken() {
        try (Gpt g = Gpt.create(root, TINY, 2)) {
            g.load(randomWeights(TINY, 8));
            int[] all = g.generate(new int[] {4}, GenerationOptions.greedy(10), 0);
            int stop = all[3];
            int firstStop = 1;
            while (all[firstStop] != stop) {
                firstStop++;
            }
            int[] stopped = g.generate(new int[] {4}, new GenerationOptions(10, 0, 0, 1, stop, true), 0);
            assertArrayEquals(Arrays.copyOf(all, firstStop + 1), stopped);
            assertThrows(BadInputException.class, () -> g.generate(new int[] {11}, GenerationOptions.greedy(1), 0));
            assertThrows(BadInputException.class, () -> g.generate(new int[0], GenerationOptions.greedy(1), 0));
        }
    }

    @Test
    void crossEntropyIsTheMeanNllOverCountedPositions() {
        try (NDManager m = root.newSubManager()) {
            float[] raw = {1, 2, 3, 0, 0, 0, -1, 5, 2, 4, 4, 4};
            NDArray logits = m.create(raw, new Shape(2, 2, 3));
            NDArray targets = m.create(new long[] {2, 0, 1, 2}, new Shape(2, 2));
            double[] nll = new double[4];
            long[] tgt = {2, 0, 1, 2};
            for (int i = 0; i < 4; i++) {
                double z = 0;
                for (int v = 0; v < 3; v++) {
                    z += Math.exp(raw[i * 3 + v]);
                }
                nll[i] = Math.log(z) - raw[(int) (i * 3 + tgt[i])];
            }
            assertEquals(Arrays.stream(nll).average().orElseThrow(),
                    Gpt.crossEntropy(logits, targets, null).getFloat(), 1e-5);
            NDArray w = m.create(new float[] {0, 1, 1, 0}, new Shape(2, 2));
            assertEquals((nll[1] + nll[2]) / 2, Gpt.crossEntropy(logits, targets, w).getFloat(), 1e-5);
            assertEquals(0f, Gpt.crossEntropy(logits, targets, m.zeros(new Shape(2, 2))).getFloat());
        }
    }

    @Test
    void snapshotAndLoadRoundTripAndMismatchesAreNamed() {
        try (Gpt a = Gpt.create(root, TINY, 1); Gpt b = Gpt.create(root, TINY, 2)) {
            Map<String, HostTensor> s = a.snapshot();
            b.load(s);
            assertEquals(s, b.snapshot());

            Map<String, HostTensor> wrong = new LinkedHashMap<>(s);
            wrong.put("h.1.attn.c_attn.weight", HostTensor.f32(new long[] {48, 16}, new float[48 * 16]));
            assertEquals("checkpoint tensor h.1.attn.c_attn.weight has shape [48, 16], model expects [16, 48]",
                    assertThrows(BadInputException.class, () -> b.load(wrong)).getMessage());

            Map<String, HostTensor> missing = new LinkedHashMap<>(s);
            missing.remove("ln_f.bias");
            assertEquals("checkpoint is missing tensor ln_f.bias",
                    assertThrows(BadInputException.class, () -> b.load(missing)).getMessage());

            Map<String, HostTensor> extra = new LinkedHashMap<>(s);
            extra.put("h.2.ln_1.weight", HostTensor.f32(new long[] {16}, new float[16]));
            assertTrue(assertThrows(BadInputException.class, () -> b.load(extra)).getMessage()
                    .contains("h.2.ln_1.weight"));
            assertEquals(s, b.snapshot(), "a rejected checkpoint changes nothing");

            // HF's GPT2LMHeadModel naming loads too.
            Map<String, HostTensor> hf = new LinkedHashMap<>();
            randomWeights(TINY, 9).forEach((k, v) -> hf.put("transformer." + k, v));
            hf.put("lm_head.weight", hf.get("transformer.wte.weight"));
            b.load(hf);
            assertEquals(hf.get("transformer.h.0.mlp.c_fc.weight"), b.snapshot().get("h.0.mlp.c_fc.weight"));
        }
    }

    @Test
    void gradientsDoNotDependOnWhenTheGarbageCollectorRuns() throws InterruptedException {
        GptConfig cfg = new GptConfig(11, 8, 2, 2, 16, 0.1, true);
        try (Gpt g = Gpt.create(root, cfg, 4)) {
            Map<String, byte[]> reference = null;
            for (boolean churn : new boolean[] {false, true, true}) {
                try (NDScope scope = new NDScope()) {
                    Engine.getInstance().setRandomSeed(5);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray loss;
                        try (NDManager m = root.newSubManager()) {
                            NDArray x = tokens(m, new long[][] {{1, 2, 3, 4, 5, 6, 7, 8}});
                            NDArray y = tokens(m, new long[][] {{2, 3, 4, 5, 6, 7, 8, 9}});
                            loss = Gpt.crossEntropy(g.forward(x, true), y, m.ones(new Shape(1, 8)));
                            loss.attach(root);
                        } // the caller's inputs are gone before backward
                        if (churn) {
                            forge.tensor.EngineArraysTest.churnDirectMemory();
                        }
                        gc.backward(EngineArrays.scale(loss, 0.5));
                    }
                }
                Map<String, byte[]> grads = new LinkedHashMap<>();
                g.parameters().forEach((n, p) -> {
                    grads.put(n, p.getGradient().toByteArray());
                    EngineArrays.zeroGradient(p);
                });
                if (reference == null) {
                    reference = grads;
                } else {
                    for (String n : grads.keySet()) {
                        assertArrayEquals(reference.get(n), grads.get(n), n);
                    }
                }
            }
        }
    }

    @Test
    void aTinyModelOverfitsOneSequence() {
        GptConfig cfg = new GptConfig(11, 16, 2, 2, 32, 0.0, true);
        long[] seq = {1, 5, 2, 8, 3, 9, 4, 10, 0, 7, 6, 1, 5, 2, 8, 3, 9};
        AdamWConfig opt = new AdamWConfig(1e-2, 1e-3, 0, 150, 0.9, 0.99, 1e-8, 0.0, 1.0);
        try (Gpt g = Gpt.create(root, cfg, 3); AdamW adam = new AdamW(root, g.parameters(), opt)) {
            float first = 0;
            float last = 0;
            for (int step = 0; step < 150; step++) {
                try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                    NDArray x = m.create(Arrays.copyOfRange(seq, 0, 16), new Shape(1, 16));
                    NDArray y = m.create(Arrays.copyOfRange(seq, 1, 17), new Shape(1, 16));
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray loss = Gpt.crossEntropy(g.forward(x, true), y, null);
                        gc.backward(loss);
                        last = loss.getFloat();
                    }
                    if (step == 0) {
                        first = last;
                    }
                    adam.step(step);
                }
            }
            assertEquals(Math.log(11), first, 0.3, "starts near uniform");
            assertTrue(last < 0.05, "loss after 150 steps: " + last);
        }
    }

    @Test
    void trainingInsideScopesLeaksNoArrays() {
        GptConfig cfg = new GptConfig(11, 8, 2, 2, 16, 0.1, true);
        try (NDManager parent = root.newSubManager()) {
            Gpt g = Gpt.create(parent, cfg, 3);
            AdamW adam = new AdamW(parent, g.parameters(), AdamWConfig.nanoGptBaby());
            NDManager data = parent.newSubManager();
            Runnable step = () -> {
                try (NDScope scope = new NDScope()) {
                    NDArray x = data.randomInteger(0, 11, new Shape(2, 8), ai.djl.ndarray.types.DataType.INT64);
                    for (int micro = 0; micro < 2; micro++) {
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            gc.backward(EngineArrays.scale(Gpt.crossEntropy(g.forward(x, true), x, null), 0.5));
                        }
                    }
                    adam.step(0);
                }
            };
            step.run();
            int before = parent.getManagedArrays().size();
            assertTrue(before >= 3 * g.parameters().size(), "counts the model's and optimizer's arrays: " + before);
            for (int i = 0; i < 200; i++) {
                step.run();
            }
            assertEquals(before, parent.getManagedArrays().size());
            // Inference without any scope: the result lands in the caller's manager, nothing stays in the model's.
            try (NDManager call = parent.newSubManager()) {
                g.forward(call.create(new long[] {1, 2, 3}, new Shape(1, 3)), false);
                g.generate(new int[] {1}, new GenerationOptions(10, 1, 0, 1, -1, true), 1);
                g.generate(new int[] {1}, new GenerationOptions(10, 1, 0, 1, -1, false), 1);
            }
            assertEquals(before, parent.getManagedArrays().size());
            data.create(1f);
            assertEquals(before + 1, parent.getManagedArrays().size(), "the check does see a leak");
            g.close();
            adam.close();
        }
    }
}
