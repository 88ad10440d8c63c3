package forge.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.tensor.TorchOps;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused TorchScript kernels compute what the DJL-only paths compute, forward and backward, for every mask the
 * model builds (causal, packed, left-padded with a cache), and bfloat16 through them trains the fp32 masters.
 */
class TorchOpsTest {
    private static final long[][] ROWS = {{1, 2, 3, 4, 5, 6, 7, 8}, {0, 10, 9, 3, 3, 2, 1, 4}};
    private static final long[][] NEXT = {{2, 3, 4, 5, 6, 7, 8, 9}, {10, 9, 3, 3, 2, 1, 4, 0}};
    private static final GptConfig LLAMA = GptConfig.llama(11, 8, 3, 4, 2, 16, 40, 10000, false, 0);
    private static NDManager root;

    @BeforeAll
    static void setUp() {
        root = NDManager.newBaseManager();
        assertTrue(TorchOps.available(), TorchOps.unavailableReason());
    }

    @AfterAll
    static void tearDown() {
        root.close();
    }

    @AfterEach
    void fusedAgain() {
        TorchOps.setEnabled(true);
    }

    @Test
    void gpt2LossAndGradientsMatchTheDjlOps() {
        assertSame(GptTest.TINY, Precision.FP32, false, 1e-5);
    }

    @Test
    void llamaWithGroupedQueryAttentionMatchesTheDjlOps() {
        assertSame(LLAMA, Precision.FP32, false, 1e-5);
    }

    @Test
    void packedRowsMatchTheDjlOps() {
        assertSame(GptTest.TINY, Precision.FP32, true, 1e-5);
        assertSame(LLAMA, Precision.FP32, true, 1e-5);
    }

    @Test
    void fp16AutocastMatchesTheDjlOps() {
        // Both round the same matmul inputs to fp16; the fused attention accumulates in fp32 inside the kernel.
        assertSame(GptTest.TINY, Precision.FP16, false, 2e-3);
    }

    @Test
    void cachedBatchedGenerationPicksTheSameTokens() {
        int[][] prompts = {{1, 2, 3, 4, 5}, {9, 8}, {7, 7, 7}};
        GenerationOptions greedy = new GenerationOptions(6, 0, 0, 1.0, -1, true);
        for (GptConfig cfg : new GptConfig[] {GptTest.TINY, LLAMA}) {
            try (Gpt g = Gpt.create(root, cfg, 5)) {
                int[][] fused = g.generateBatch(prompts, greedy, 1);
                TorchOps.setEnabled(false);
                int[][] plain = g.generateBatch(prompts, greedy, 1);
                TorchOps.setEnabled(true);
                for (int r = 0; r < prompts.length; r++) {
                    assertEquals(java.util.Arrays.toString(plain[r]), java.util.Arrays.toString(fused[r]));
                }
            }
        }
    }

    @Test
    void bf16ComputesInBf16AndItsGradientsReachTheFp32Masters() {
        Map<String, float[]> fp32 = new LinkedHashMap<>();
        Map<String, float[]> bf16 = new LinkedHashMap<>();
        float fp32Loss = lossAndGrads(LLAMA, Precision.FP32, false, fp32);
        float bf16Loss = lossAndGrads(LLAMA, Precision.BF16, false, bf16);
        assertTrue(fp32Loss != bf16Loss, "bf16 rounds the matmul inputs");
        assertEquals(fp32Loss, bf16Loss, 0.02 * Math.abs(fp32Loss), "bf16 keeps 8 significant bits");
        for (String name : fp32.keySet()) {
            float[] g = bf16.get(name);
            assertNotNull(g, name);
            double cos = cosine(fp32.get(name), g);
            assertTrue(cos > 0.99, name + ": bf16 gradient points elsewhere, cosine " + cos);
        }
    }

    /** Loss and every gradient through the fused kernels and through DJL's ops agree within tolerance. */
    private static void assertSame(GptConfig cfg, Precision p, boolean packed, double tolerance) {
        Map<String, float[]> fused = new LinkedHashMap<>();
        Map<String, float[]> plain = new LinkedHashMap<>();
        float fusedLoss = lossAndGrads(cfg, p, packed, fused);
        TorchOps.setEnabled(false);
        float plainLoss = lossAndGrads(cfg, p, packed, plain);
        TorchOps.setEnabled(true);
        assertEquals(plainLoss, fusedLoss, tolerance * Math.abs(plainLoss));
        assertEquals(plain.keySet(), fused.keySet());
        for (String name : plain.keySet()) {
            float[] a = plain.get(name);
            float[] b = fused.get(name);
            double scale = 0;
            for (float v : a) {
                scale = Math.max(scale, Math.abs(v));
            }
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], tolerance * Math.max(scale, 1e-6), name + "[" + i + "]");
            }
        }
    }

    private static float lossAndGrads(GptConfig cfg, Precision p, boolean packed, Map<String, float[]> grads) {
        try (Gpt g = Gpt.create(root, cfg, 3);
             NDManager m = root.newSubManager();
             NDScope scope = new NDScope();
             GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            g.setPrecision(p);
            NDArray x = GptTest.tokens(m, ROWS);
            NDArray logits = packed
                    ? g.forward(x, m.create(new long[] {0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7}, new Shape(2, 8)),
                            m.create(new int[] {1, 1, 1, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0}, new Shape(2, 8)),
                            true)
                    : g.forward(x, true);
            NDArray loss = Gpt.crossEntropy(logits, GptTest.tokens(m, NEXT), null);
            gc.backward(loss);
            g.parameters().forEach((name, a) -> grads.put(name,
                    a.getGradient().toType(DataType.FLOAT32, false).toFloatArray()));
            return loss.getFloat();
        }
    }

    private static double cosine(float[] a, float[] b) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return aa == 0 && bb == 0 ? 1 : ab / Math.sqrt(aa * bb);
    }
}
