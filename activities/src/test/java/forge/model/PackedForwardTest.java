package forge.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Gpt#forward(NDArray, NDArray, NDArray, boolean)}: several examples packed in a row, none seeing another. */
class PackedForwardTest {
    static final GptConfig CFG = new GptConfig(11, 16, 2, 2, 16, 0.0, true);   // V 11, T 16
    static final int V = CFG.vocabSize();
    static final int T = CFG.blockSize();
    static final long PAD = 10;
    static NDManager root;

    @BeforeAll
    static void setUp() {
        root = NDManager.newBaseManager();
    }

    @AfterAll
    static void tearDown() {
        root.close();
    }

    /** Rows of examples packed left to right, padded to T: inputs, segment ids, restarting positions, offsets. */
    record Packed(int rows, long[] idx, int[] seg, int[] pos, int[][] offsets) {
        static Packed of(long[][][] rows) {
            long[] idx = new long[rows.length * T];
            int[] seg = new int[rows.length * T];
            int[] pos = new int[rows.length * T];
            int[][] offsets = new int[rows.length][];
            java.util.Arrays.fill(idx, PAD);
            for (int r = 0; r < rows.length; r++) {
                offsets[r] = new int[rows[r].length];
                int at = 0;
                for (int e = 0; e < rows[r].length; e++) {
                    offsets[r][e] = at;
                    for (int i = 0; i < rows[r][e].length; i++, at++) {
                        idx[r * T + at] = rows[r][e][i];
                        seg[r * T + at] = e + 1;
                        pos[r * T + at] = i;
                    }
                }
                assertTrue(at <= T);
            }
            return new Packed(rows.length, idx, seg, pos, offsets);
        }

        NDArray idx(NDManager m) {
            return m.create(idx, new Shape(rows, T));
        }

        /** int32, as SftBatch holds them, or int64. */
        NDArray seg(NDManager m, boolean int64) {
            return int64 ? m.create(java.util.Arrays.stream(seg).asLongStream().toArray(), new Shape(rows, T))
                    : m.create(seg, new Shape(rows, T));
        }

        NDArray pos(NDManager m, boolean int64) {
            return int64 ? m.create(java.util.Arrays.stream(pos).asLongStream().toArray(), new Shape(rows, T))
                    : m.create(pos, new Shape(rows, T));
        }
    }

    static long[] randomExample(Random r, int len) {
        long[] x = new long[len];
        for (int i = 0; i < len; i++) {
            x[i] = r.nextInt(V - 1); // never PAD, so padding tokens are distinguishable
        }
        return x;
    }

    /** Two rows: three examples then padding, and two examples then padding. */
    static long[][][] examples(long seed) {
        Random r = new Random(seed);
        return new long[][][] {
            {randomExample(r, 5), randomExample(r, 3), randomExample(r, 6)},
            {randomExample(r, 7), randomExample(r, 4)},
        };
    }

    static Gpt model(GptConfig cfg, long seed, boolean lora) {
        Gpt g = Gpt.create(root, cfg, 1);
        g.load(GptTest.randomWeights(cfg, seed));
        if (lora) {
            // Non-zero adapters on every linear, so the adapter path changes the result and gets gradients.
            g.addLora(new LoraConfig(4, 8, List.of("c_attn", "attn.c_proj", "c_fc", "mlp.c_proj")), 3);
            Random r = new Random(seed + 1);
            Map<String, HostTensor> s = g.snapshot();
            Map<String, HostTensor> withB = new LinkedHashMap<>(s);
            s.forEach((name, t) -> {
                if (name.endsWith(".lora_B")) {
                    float[] v = new float[(int) HostTensor.numel(t.shape())];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (0.2 * r.nextGaussian());
                    }
                    withB.put(name, HostTensor.f32(t.shape(), v));
                }
            });
            g.load(withB);
        }
        return g;
    }

    static float[] alone(Gpt g, long[] example) {
        try (NDManager m = root.newSubManager()) {
            return g.forward(m.create(example, new Shape(1, example.length)), false).toFloatArray();
        }
    }

    // ---------------------------------------------------------------------------------------------- logits

    @Test
    void packedExamplesGiveTheLogitsEachGetsAlone() {
        long[][][] ex = examples(1);
        Packed p = Packed.of(ex);
        for (boolean lora : new boolean[] {false, true}) {
            for (boolean int64 : new boolean[] {false, true}) {
                try (Gpt g = model(CFG, 5, lora); NDManager m = root.newSubManager()) {
                    NDArray logits = g.forward(p.idx(m), p.pos(m, int64), p.seg(m, int64), false);
                    assertEquals(new Shape(2, T, V), logits.getShape());
                    float[] got = logits.toFloatArray();
                    for (float x : got) {
                        assertTrue(Float.isFinite(x), "padding included, every logit is finite");
                    }
                    for (int r = 0; r < ex.length; r++) {
                        for (int e = 0; e < ex[r].length; e++) {
                            float[] want = alone(g, ex[r][e]);
                            for (int i = 0; i < ex[r][e].length; i++) {
                                for (int v = 0; v < V; v++) {
                                    assertEquals(want[i * V + v], got[(r * T + p.offsets[r][e] + i) * V + v], 1e-4,
                                            "lora=" + lora + " row " + r + " example " + e + " position " + i);
                                }
                            }
                        }
                    }
                    // The mask matters: the same row with one segment gives example 2 different logits.
                    int[] oneSeg = p.seg.clone();
                    int[] contiguous = new int[oneSeg.length];
                    for (int i = 0; i < oneSeg.length; i++) {
                        oneSeg[i] = 1;
                        contiguous[i] = i % T;
                    }
                    float[] unmasked = g.forward(p.idx(m), m.create(contiguous, new Shape(2, T)),
                            m.create(oneSeg, new Shape(2, T)), false).toFloatArray();
                    int at = (p.offsets[0][1] + 1) * V;
                    assertTrue(Math.abs(unmasked[at] - got[at]) > 1e-3, "packing changes what example 2 sees");
                }
            }
        }
    }

    @Test
    void oneSegmentWithContiguousPositionsIsThePlainForward() {
        GptConfig dropCfg = new GptConfig(11, 16, 2, 2, 16, 0.2, true);
        Random r = new Random(9);
        long[] idx = new long[3 * T];
        int[] seg = new int[3 * T];
        int[] pos = new int[3 * T];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = r.nextInt(V);
            seg[i] = 1;
            pos[i] = i % T;
        }
        for (boolean lora : new boolean[] {false, true}) {
            try (Gpt g = model(dropCfg, 6, lora); NDManager m = root.newSubManager()) {
                NDArray x = m.create(idx, new Shape(3, T));
                NDArray ps = m.create(pos, new Shape(3, T));
                NDArray sg = m.create(seg, new Shape(3, T));
                assertArrayEquals(g.forward(x, false).toFloatArray(), g.forward(x, ps, sg, false).toFloatArray(),
                        1e-5f);
                // Training: the same dropout draws in the same order, so the same seed gives the same logits.
                Engine.getInstance().setRandomSeed(17);
                float[] plain = g.forward(x, true).toFloatArray();
                Engine.getInstance().setRandomSeed(17);
                float[] packed = g.forward(x, ps, sg, true).toFloatArray();
                assertArrayEquals(plain, packed, 1e-5f, "lora=" + lora);
                assertTrue(maxAbsDiff(plain, g.forward(x, false).toFloatArray()) > 1e-3, "dropout was active");
            }
        }
    }

    @Test
    void badPositionsAndShapesAreRejected() {
        try (Gpt g = model(CFG, 5, false); NDManager m = root.newSubManager()) {
            NDArray x = m.create(new long[] {1, 2, 3}, new Shape(1, 3));
            NDArray seg = m.create(new int[] {1, 1, 1}, new Shape(1, 3));
            assertThrows(IllegalArgumentException.class,
                    () -> g.forward(x, m.create(new int[] {0, 1, T}, new Shape(1, 3)), seg, false));
            assertThrows(IllegalArgumentException.class,
                    () -> g.forward(x, m.create(new int[] {0, -1, 2}, new Shape(1, 3)), seg, false));
            assertThrows(IllegalArgumentException.class,
                    () -> g.forward(x, m.create(new int[] {0, 1}, new Shape(1, 2)), seg, false));
            assertThrows(IllegalArgumentException.class, () -> g.forward(x, null, seg, false));
        }
    }

    // ---------------------------------------------------------------------------------------------- gradients

    /** Gradients of every trainable parameter after backward(s) run by step, then zeroed. */
    static Map<String, float[]> gradients(Gpt g, Runnable step) {
        step.run();
        Map<String, float[]> out = new LinkedHashMap<>();
        g.trainableParameters().forEach((name, p) -> {
            try (NDArray grad = p.getGradient()) {
                out.put(name, grad.toFloatArray());
            }
            EngineArrays.zeroGradient(p);
        });
        return out;
    }

    static void assertGradientsEqual(Map<String, float[]> want, Map<String, float[]> got, String what) {
        assertEquals(want.keySet(), got.keySet());
        double maxRel = 0;
        for (String name : want.keySet()) {
            float[] a = want.get(name);
            float[] b = got.get(name);
            double scale = 0;
            for (float v : a) {
                scale = Math.max(scale, Math.abs(v));
            }
            for (int i = 0; i < a.length; i++) {
                assertTrue(Float.isFinite(b[i]), what + ": " + name + "[" + i + "] is " + b[i]);
                assertEquals(a[i], b[i], 1e-6 + 1e-4 * scale, what + ": " + name + "[" + i + "]");
            }
            maxRel = Math.max(maxRel, scale);
        }
        assertTrue(maxRel > 1e-3, what + ": gradients are not all ~0");
    }

    static float[] randomWeights(Packed p, Random r) {
        float[] w = new float[p.idx.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = p.seg[i] != 0 && r.nextInt(3) > 0 ? 1 : 0;   // 0 on padding, some 0s inside examples too
        }
        return w;
    }

    static long[] randomTargets(int n, Random r) {
        long[] y = new long[n];
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(V);
        }
        return y;
    }

    @Test
    void packedGradientsEqualTheExamplesRunSeparately() {
        long[][][] ex = examples(2);
        Packed p = Packed.of(ex);
        Random r = new Random(4);
        long[] targets = randomTargets(p.idx.length, r);
        float[] weights = randomWeights(p, r);
        double total = 0;
        for (float w : weights) {
            total += w;
        }
        double weightSum = total;
        for (boolean lora : new boolean[] {false, true}) {
            try (Gpt g = model(CFG, 7, lora)) {
                if (lora) {
                    g.freezeBase();
                }
                Map<String, float[]> packed = gradients(g, () -> {
                    try (NDScope scope = new NDScope(); NDManager m = root.newSubManager();
                         GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray logits = g.forward(p.idx(m), p.pos(m, false), p.seg(m, false), true);
                        gc.backward(Gpt.crossEntropy(logits, m.create(targets, new Shape(p.rows, T)),
                                m.create(weights, new Shape(p.rows, T))));
                    }
                });
                // Separately: each example's weighted mean, scaled by its share of the weight, summed by autograd.
                Map<String, float[]> separate = gradients(g, () -> {
                    for (int row = 0; row < ex.length; row++) {
                        for (int e = 0; e < ex[row].length; e++) {
                            int len = ex[row][e].length;
                            int from = row * T + p.offsets[row][e];
                            long[] y = java.util.Arrays.copyOfRange(targets, from, from + len);
                            float[] w = java.util.Arrays.copyOfRange(weights, from, from + len);
                            double share = 0;
                            for (float v : w) {
                                share += v;
                            }
                            if (share == 0) {
                                continue;
                            }
                            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager();
                                 GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                                NDArray logits = g.forward(m.create(ex[row][e], new Shape(1, len)), true);
                                NDArray loss = Gpt.crossEntropy(logits, m.create(y, new Shape(1, len)),
                                        m.create(w, new Shape(1, len)));
                                gc.backward(EngineArrays.scale(loss, share / weightSum));
                            }
                        }
                    }
                });
                assertGradientsEqual(separate, packed, "lora=" + lora);
                assertTrue(packed.containsKey(lora ? "h.0.attn.c_attn.lora_A" : "wpe.weight"));
            }
        }
    }

    @Test
    void paddingRowsGiveFiniteGradientsAndChangeNothing() {
        GptConfig dropCfg = new GptConfig(11, 16, 2, 2, 16, 0.1, true);
        Packed one = Packed.of(new long[][][] {{randomExample(new Random(3), 9), randomExample(new Random(4), 2)}});
        // The same row plus a row that is padding from start to end.
        long[] idx2 = new long[2 * T];
        int[] seg2 = new int[2 * T];
        int[] pos2 = new int[2 * T];
        java.util.Arrays.fill(idx2, PAD);
        System.arraycopy(one.idx, 0, idx2, 0, T);
        System.arraycopy(one.seg, 0, seg2, 0, T);
        System.arraycopy(one.pos, 0, pos2, 0, T);
        Random r = new Random(8);
        long[] targets = randomTargets(2 * T, r);
        float[] weights = new float[2 * T];
        for (int i = 0; i < T; i++) {
            weights[i] = one.seg[i] != 0 ? 1 : 0;
        }
        for (boolean dropout : new boolean[] {false, true}) {
            try (Gpt g = model(dropout ? dropCfg : CFG, 11, false)) {
                Map<String, float[]> oneRow = gradients(g, () -> {
                    try (NDScope scope = new NDScope(); NDManager m = root.newSubManager();
                         GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray logits = g.forward(one.idx(m), one.pos(m, false), one.seg(m, false), false);
                        gc.backward(Gpt.crossEntropy(logits, m.create(java.util.Arrays.copyOf(targets, T),
                                new Shape(1, T)), m.create(java.util.Arrays.copyOf(weights, T), new Shape(1, T))));
                    }
                });
                Map<String, float[]> withPadRow = gradients(g, () -> {
                    try (NDScope scope = new NDScope(); NDManager m = root.newSubManager();
                         GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray logits = g.forward(m.create(idx2, new Shape(2, T)), m.create(pos2, new Shape(2, T)),
                                m.create(seg2, new Shape(2, T)), false);
                        for (float x : logits.toFloatArray()) {
                            assertTrue(Float.isFinite(x));
                        }
                        gc.backward(Gpt.crossEntropy(logits, m.create(targets, new Shape(2, T)),
                                m.create(weights, new Shape(2, T))));
                    }
                });
                assertGradientsEqual(oneRow, withPadRow, "dropout=" + dropout + ", an all-padding row added");
                // A batch of nothing but padding, in training mode: loss 0, gradients finite (all zero).
                Map<String, float[]> allPad = gradients(g, () -> {
                    try (NDScope scope = new NDScope(); NDManager m = root.newSubManager();
                         GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        Engine.getInstance().setRandomSeed(3);
                        NDArray logits = g.forward(m.full(new Shape(2, T), (int) PAD), m.zeros(new Shape(2, T),
                                ai.djl.ndarray.types.DataType.INT32), m.zeros(new Shape(2, T),
                                ai.djl.ndarray.types.DataType.INT32), true);
                        NDArray loss = Gpt.crossEntropy(logits, m.create(targets, new Shape(2, T)),
                                m.zeros(new Shape(2, T)));
                        assertEquals(0f, loss.getFloat());
                        gc.backward(loss);
                    }
                });
                allPad.forEach((name, grad) -> {
                    for (float v : grad) {
                        assertEquals(0f, v, 0f, name);
                    }
                });
            }
        }
    }

    @Test
    void packedTrainingInsideScopesLeaksNoArrays() {
        GptConfig dropCfg = new GptConfig(11, 16, 2, 2, 16, 0.1, true);
        Packed p = Packed.of(examples(3));
        try (NDManager parent = root.newSubManager()) {
            Gpt g = Gpt.create(parent, dropCfg, 3);
            NDManager data = parent.newSubManager();
            Runnable step = () -> {
                try (NDScope scope = new NDScope();
                     GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray x = p.idx(data);
                    NDArray logits = g.forward(x, p.pos(data, false), p.seg(data, false), true);
                    gc.backward(Gpt.crossEntropy(logits, x, null));
                }
            };
            step.run();
            int before = parent.getManagedArrays().size();
            int beforeData = data.getManagedArrays().size();
            for (int i = 0; i < 20; i++) {
                step.run();
            }
            assertEquals(before, parent.getManagedArrays().size());
            assertEquals(beforeData, data.getManagedArrays().size());
            g.close();
        }
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }
}
