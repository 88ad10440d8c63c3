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
import forge.tensor.Safetensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** LoRA adapters, freezing and merging on {@link Gpt}. */
class LoraTest {
    static final GptConfig TINY = GptTest.TINY;                          // V 11, T 8, 2 layers, 2 heads, C 16
    static final LoraConfig ALL = new LoraConfig(4, 8, List.of("mlp.c_proj", "c_attn", "c_fc", "attn.c_proj"));
    static final AdamWConfig OPT = new AdamWConfig(3e-2, 3e-3, 0, 20, 0.9, 0.99, 1e-8, 0.1, 1.0);
    static NDManager root;

    @BeforeAll
    static void setUp() {
        root = NDManager.newBaseManager();
    }

    @AfterAll
    static void tearDown() {
        root.close();
    }

    // ---------------------------------------------------------------------------------------------- helpers

    static float[] logits(Gpt g, long[][] rows) {
        try (NDManager m = root.newSubManager()) {
            return g.forward(GptTest.tokens(m, rows), false).toFloatArray();
        }
    }

    static final long[][] PROBE = {{1, 2, 3, 4, 5, 6, 7, 8}, {0, 10, 9, 3, 3, 2, 1, 4}};

    /** One optimizer step per call on a fixed random batch of shape (2, 8); dropout seeded from the step. */
    static void train(Gpt g, AdamW opt, long seed, int from, int to) {
        for (int step = from; step < to; step++) {
            try (NDScope scope = new NDScope(); NDManager data = root.newSubManager()) {
                for (int micro = 0; micro < 2; micro++) {
                    SplittableRandom r = new SplittableRandom(seed * 31 + step * 7L + micro);
                    long[] x = new long[16];
                    long[] y = new long[16];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = r.nextInt(11);
                        y[i] = (x[i] * 3 + 1) % 11;
                    }
                    Engine.getInstance().setRandomSeed((int) new SplittableRandom(seed ^ step * 1000L ^ micro).nextLong());
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray out = g.forward(data.create(x, new Shape(2, 8)), true);
                        NDArray loss = Gpt.crossEntropy(out, data.create(y, new Shape(2, 8)), null);
                        gc.backward(EngineArrays.scale(loss, 0.5));
                    }
                }
                opt.step(step);
            }
        }
    }

    static List<String> changed(Map<String, HostTensor> before, Map<String, HostTensor> after) {
        List<String> out = new ArrayList<>();
        before.forEach((name, t) -> {
            if (!t.equals(after.get(name))) {
                out.add(name);
            }
        });
        return out;
    }

    // ---------------------------------------------------------------------------------------------- config

    @Test
    void configIsValidatedWithFieldNames() {
        assertEquals("lora.rank: must be > 0, got 0",
                assertThrows(BadInputException.class, () -> LoraConfig.of(0, 16)).getMessage());
        assertTrue(assertThrows(BadInputException.class, () -> LoraConfig.of(-2, 16)).getMessage()
                .startsWith("lora.rank: "));
        assertTrue(assertThrows(BadInputException.class, () -> LoraConfig.of(4, 0)).getMessage()
                .startsWith("lora.alpha: "));
        assertTrue(assertThrows(BadInputException.class, () -> LoraConfig.of(4, Double.NaN)).getMessage()
                .startsWith("lora.alpha: "));
        assertEquals("lora.targets: unknown target \"qproj\"; allowed: [c_attn, attn.c_proj, c_fc, mlp.c_proj, "
                        + "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]",
                assertThrows(BadInputException.class, () -> new LoraConfig(4, 8, List.of("c_attn", "qproj")))
                        .getMessage());
        assertTrue(assertThrows(BadInputException.class, () -> new LoraConfig(4, 8, List.of())).getMessage()
                .startsWith("lora.targets: "));
        // A Llama projection is a valid target, but not of a GPT-2 block; no targets means the family's default.
        assertEquals("lora.targets: [q_proj] are not linears of a gpt2 block; it has [c_attn, attn.c_proj, c_fc, "
                + "mlp.c_proj]", assertThrows(BadInputException.class, () -> new LoraConfig(4, 8,
                List.of("c_attn", "q_proj")).forArchitecture(TINY.architecture())).getMessage());
        assertEquals(List.of("c_attn"), new LoraConfig(4, 8, null).forArchitecture(TINY.architecture()).targets());
        assertEquals(List.of("q_proj", "v_proj"),
                new LoraConfig(4, 8, null).forArchitecture(Architecture.of("llama")).targets());
        assertEquals("lora.targets: lists \"c_fc\" twice", assertThrows(BadInputException.class,
                () -> new LoraConfig(4, 8, List.of("c_fc", "c_fc"))).getMessage());

        LoraConfig d = LoraConfig.of(8, 16);
        assertEquals(List.of("c_attn"), d.targets());
        assertEquals(2.0, d.scale());
        assertEquals(List.of("c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"), ALL.targets(), "canonical order");
        assertEquals(List.of("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"), ALL.modules(TINY.architecture()));
        assertEquals(ALL, new LoraConfig(4, 8, List.of("c_fc", "c_attn", "attn.c_proj", "mlp.c_proj")));
        // Per block: c_attn 4·(16+48) + attn.c_proj 4·(16+16) + c_fc 4·(16+64) + mlp.c_proj 4·(64+16).
        assertEquals(2L * 4 * (64 + 32 + 80 + 80), ALL.parameterCount(TINY));
    }

    // ---------------------------------------------------------------------------------------------- adapters

    @Test
    void addingAdaptersChangesNothingAndNamesThemLikePeft() {
        try (Gpt g = Gpt.create(root, TINY, 1); Gpt same = Gpt.create(root, TINY, 1);
             Gpt other = Gpt.create(root, TINY, 1)) {
            g.load(GptTest.randomWeights(TINY, 3));
            float[] before = logits(g, PROBE);
            Map<String, HostTensor> base = g.snapshot();
            g.addLora(ALL, 5);
            assertArrayEquals(before, logits(g, PROBE), 0f, "B is zero: the output is exactly the same");
            assertEquals(ALL, g.lora());

            LinkedHashMap<String, NDArray> lora = g.loraParameters();
            assertEquals(16, lora.size());
            assertEquals(List.of("h.0.attn.c_attn.lora_A", "h.0.attn.c_attn.lora_B", "h.0.attn.c_proj.lora_A",
                    "h.0.attn.c_proj.lora_B", "h.0.mlp.c_fc.lora_A", "h.0.mlp.c_fc.lora_B", "h.0.mlp.c_proj.lora_A",
                    "h.0.mlp.c_proj.lora_B"), List.copyOf(lora.keySet()).subList(0, 8));
            assertEquals(new Shape(16, 4), lora.get("h.1.attn.c_attn.lora_A").getShape());
            assertEquals(new Shape(4, 48), lora.get("h.1.attn.c_attn.lora_B").getShape());
            assertEquals(new Shape(64, 4), lora.get("h.0.mlp.c_proj.lora_A").getShape());
            assertEquals(new Shape(4, 16), lora.get("h.0.mlp.c_proj.lora_B").getShape());
            lora.values().forEach(a -> assertTrue(a.hasGradient()));

            assertEquals(base.keySet(), g.parameters().keySet(), "parameters() stays the base");
            List<String> all = new ArrayList<>(base.keySet());
            all.addAll(lora.keySet());
            assertEquals(all, List.copyOf(g.snapshot().keySet()), "the snapshot carries the adapters after the base");

            Map<String, HostTensor> s = g.snapshot();
            for (float v : s.get("h.0.mlp.c_fc.lora_B").toFloatArray()) {
                assertEquals(0f, v);
            }
            float[] a = s.get("h.0.mlp.c_fc.lora_A").toFloatArray();
            double bound = 1 / Math.sqrt(16);
            assertTrue(Arrays.stream(toDoubles(a)).allMatch(v -> Math.abs(v) <= bound));
            assertTrue(Arrays.stream(toDoubles(a)).map(Math::abs).max().orElseThrow() > bound / 2);

            same.addLora(ALL, 5);
            other.addLora(ALL, 6);
            assertEquals(s.get("h.1.mlp.c_fc.lora_A"), same.snapshot().get("h.1.mlp.c_fc.lora_A"), "seeded");
            assertNotEquals(s.get("h.1.mlp.c_fc.lora_A"), other.snapshot().get("h.1.mlp.c_fc.lora_A"));
            assertThrows(IllegalStateException.class, () -> g.addLora(ALL, 5));
        }
    }

    private static double[] toDoubles(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    @Test
    void trainingWithAFrozenBaseChangesOnlyTheAdapters() {
        GptConfig cfg = new GptConfig(11, 8, 2, 2, 16, 0.1, true);
        try (NDManager parent = root.newSubManager()) {
            Gpt g = Gpt.create(parent, cfg, 2);
            g.load(GptTest.randomWeights(cfg, 4));
            g.addLora(LoraConfig.of(2, 4), 9);
            g.freezeBase();
            g.parameters().values().forEach(p -> assertFalse(p.hasGradient()));
            LinkedHashMap<String, NDArray> trainable = g.trainableParameters();
            assertEquals(List.of("h.0.attn.c_attn.lora_A", "h.0.attn.c_attn.lora_B", "h.1.attn.c_attn.lora_A",
                    "h.1.attn.c_attn.lora_B"), List.copyOf(trainable.keySet()));
            assertThrows(IllegalArgumentException.class, () -> new AdamW(parent, g.parameters(), OPT),
                    "frozen parameters cannot go to the optimizer");

            AdamW opt = new AdamW(parent, trainable, OPT);
            Map<String, HostTensor> before = g.snapshot();
            train(g, opt, 1, 0, 3);
            Map<String, HostTensor> after = g.snapshot();
            assertEquals(List.copyOf(trainable.keySet()), changed(before, after), "only the adapters moved");

            LinkedHashMap<String, HostTensor> state = opt.snapshotState();
            List<String> expected = new ArrayList<>();
            trainable.keySet().forEach(n -> expected.add("exp_avg." + n));
            trainable.keySet().forEach(n -> expected.add("exp_avg_sq." + n));
            assertEquals(expected, List.copyOf(state.keySet()), "optimizer state covers the adapters only");
            Map<String, HostTensor> fullState = new LinkedHashMap<>(state);
            fullState.put("exp_avg.wte.weight", HostTensor.f32(new long[] {11, 16}, new float[11 * 16]));
            assertTrue(assertThrows(BadInputException.class, () -> opt.loadState(fullState)).getMessage()
                    .contains("exp_avg.wte.weight"));

            // Steps in scopes leak nothing, adapters included.
            int arrays = parent.getManagedArrays().size();
            train(g, opt, 1, 3, 8);
            assertEquals(arrays, parent.getManagedArrays().size());
            opt.close();
            g.close();
        }
    }

    @Test
    void freezingTheFirstBlocksFreezesThemAndTheEmbeddings() {
        GptConfig cfg = new GptConfig(11, 8, 3, 2, 16, 0.0, true);
        try (Gpt g = Gpt.create(root, cfg, 2); Gpt none = Gpt.create(root, cfg, 2)) {
            g.load(GptTest.randomWeights(cfg, 4));
            assertThrows(BadInputException.class, () -> g.freezeBlocks(4));
            assertThrows(BadInputException.class, () -> g.freezeBlocks(-1));
            none.freezeBlocks(0);
            assertEquals(none.parameters().keySet(), none.trainableParameters().keySet());

            g.freezeBlocks(2);
            List<String> frozen = g.parameters().keySet().stream()
                    .filter(n -> n.startsWith("wte.") || n.startsWith("wpe.") || n.startsWith("h.0.")
                            || n.startsWith("h.1."))
                    .toList();
            assertEquals(2 + 2 * 12, frozen.size());
            List<String> trainable = g.parameters().keySet().stream().filter(n -> !frozen.contains(n)).toList();
            assertEquals(trainable, List.copyOf(g.trainableParameters().keySet()));

            try (AdamW opt = new AdamW(root, g.trainableParameters(), OPT)) {
                Map<String, HostTensor> before = g.snapshot();
                train(g, opt, 2, 0, 3);
                assertEquals(trainable, changed(before, g.snapshot()), "h.2 and ln_f train, the rest is bitwise kept");
            }
        }
    }

    @Test
    void mergingFoldsTheAdaptersIntoAPlainGpt2() {
        try (Gpt g = Gpt.create(root, TINY, 1); Gpt plain = Gpt.create(root, TINY, 7)) {
            Map<String, HostTensor> base = GptTest.randomWeights(TINY, 3);
            g.load(base);
            g.addLora(ALL, 5);
            g.freezeBase();
            // Adapters far from init so that the merge has something to fold.
            Map<String, HostTensor> s = new LinkedHashMap<>(g.snapshot());
            Random r = new Random(11);
            g.loraParameters().forEach((name, p) -> {
                long[] shape = p.getShape().getShape();
                float[] v = new float[(int) HostTensor.numel(shape)];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (0.2 * r.nextGaussian());
                }
                s.put(name, HostTensor.f32(shape, v));
            });
            g.load(s);
            float[] unmerged = logits(g, PROBE);
            assertFalse(Arrays.equals(logits(plain, PROBE), unmerged));

            g.mergeLora();
            assertNull(g.lora());
            assertTrue(g.loraParameters().isEmpty());
            Map<String, HostTensor> merged = g.snapshot();
            assertEquals(List.copyOf(Gpt.parameterShapes(TINY).keySet()), List.copyOf(merged.keySet()));
            assertArrayEquals(unmerged, logits(g, PROBE), 1e-4f);
            assertNotEquals(base.get("h.0.attn.c_attn.weight"), merged.get("h.0.attn.c_attn.weight"));
            assertEquals(base.get("h.0.attn.c_attn.bias"), merged.get("h.0.attn.c_attn.bias"));

            plain.load(merged);
            assertArrayEquals(unmerged, logits(plain, PROBE), 1e-4f, "loads into a model that never had LoRA");
            assertThrows(IllegalStateException.class, g::mergeLora);
        }
    }

    // ---------------------------------------------------------------------------------------------- checkpoints

    @Test
    void checkpointsWithAndWithoutAdaptersAreNotMixedUp() {
        try (Gpt lora = Gpt.create(root, TINY, 1); Gpt plain = Gpt.create(root, TINY, 2)) {
            lora.addLora(LoraConfig.of(2, 2), 3);
            assertEquals("checkpoint is missing tensor h.0.attn.c_attn.lora_A",
                    assertThrows(BadInputException.class, () -> lora.load(plain.snapshot())).getMessage());
            assertTrue(assertThrows(BadInputException.class, () -> plain.load(lora.snapshot())).getMessage()
                    .startsWith("checkpoint has tensor h.0.attn.c_attn.lora_A that this model does not"));
            Map<String, HostTensor> wrongRank = new LinkedHashMap<>(lora.snapshot());
            wrongRank.put("h.1.attn.c_attn.lora_B", HostTensor.f32(new long[] {3, 48}, new float[3 * 48]));
            assertEquals("checkpoint tensor h.1.attn.c_attn.lora_B has shape [3, 48], model expects [2, 48]",
                    assertThrows(BadInputException.class, () -> lora.load(wrongRank)).getMessage());
        }
    }

    /** BitExactResumeTest's pattern with adapters, a frozen base and dropout. */
    @Test
    void aLoraRunResumesBitExactlyFromSafetensorsBytes() {
        GptConfig cfg = new GptConfig(11, 8, 2, 2, 16, 0.2, true);
        LoraConfig lc = new LoraConfig(2, 4, List.of("c_attn", "mlp.c_proj"));
        int n = 6;
        int k = 2;
        byte[] straightModel;
        byte[] straightOpt;
        try (Gpt g = Gpt.create(root, cfg, 1)) {
            g.addLora(lc, 2);
            g.freezeBase();
            try (AdamW o = new AdamW(root, g.trainableParameters(), OPT)) {
                train(g, o, 3, 0, n);
                straightModel = Safetensors.write(g.snapshot(), Map.of());
                straightOpt = Safetensors.write(o.snapshotState(), Map.of());
            }
        }
        byte[] savedModel;
        byte[] savedOpt;
        try (Gpt g = Gpt.create(root, cfg, 1)) {
            g.addLora(lc, 2);
            g.freezeBase();
            try (AdamW o = new AdamW(root, g.trainableParameters(), OPT)) {
                train(g, o, 3, 0, k);
                savedModel = Safetensors.write(g.snapshot(), Map.of());
                savedOpt = Safetensors.write(o.snapshotState(), Map.of());
            }
        }
        byte[] resumedModel;
        byte[] resumedOpt;
        // Other seeds for the base and the adapters: everything must come from the bytes.
        try (Gpt g = Gpt.create(root, cfg, 99)) {
            g.addLora(lc, 98);
            g.freezeBase();
            try (AdamW o = new AdamW(root, g.trainableParameters(), OPT)) {
                g.load(Safetensors.read(savedModel));
                o.loadState(Safetensors.read(savedOpt));
                train(g, o, 3, k, n);
                resumedModel = Safetensors.write(g.snapshot(), Map.of());
                resumedOpt = Safetensors.write(o.snapshotState(), Map.of());
            }
        }
        assertFalse(Arrays.equals(savedModel, straightModel), "the later steps changed the adapters");
        assertArrayEquals(straightModel, resumedModel);
        assertArrayEquals(straightOpt, resumedOpt);
    }
}
