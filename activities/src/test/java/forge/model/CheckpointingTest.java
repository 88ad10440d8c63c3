package forge.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.errors.BadInputException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Activation checkpointing gives the plain backward's loss and gradients. */
class CheckpointingTest {
    private static final long[][] ROWS = {{1, 2, 3, 4, 5, 6, 7, 8}, {0, 10, 9, 3, 3, 2, 1, 4}};
    private static final long[][] NEXT = {{2, 3, 4, 5, 6, 7, 8, 9}, {10, 9, 3, 3, 2, 1, 4, 0}};
    private static NDManager root;

    @BeforeAll
    static void setUp() {
        root = NDManager.newBaseManager();
    }

    @AfterAll
    static void tearDown() {
        root.close();
    }

    @Test
    void gpt2GradientsEqualThePlainBackwards() {
        // The tied token embedding sums its head and embedding gradients (over two micro-batches) in another order.
        compare(GptTest.TINY, false, 0.0, java.util.Set.of("wte.weight"));
    }

    @Test
    void llamaWithGroupedQueryAttentionGradientsEqualThePlainBackwards() {
        // Untied head: every parameter has one gradient contribution, so nothing is summed in another order.
        compare(GptConfig.llama(11, 8, 3, 4, 2, 16, 40, 10000, false, 0), false, 0.0, java.util.Set.of());
    }

    @Test
    void packedRowsAndLoraTrainTheSameCheckpointed() {
        compare(GptTest.TINY, true, 1e-6, null);
    }

    @Test
    void dropoutIsRefused() {
        try (Gpt g = Gpt.create(root, GptTest.TINY.withDropout(0.1), 3);
             NDManager m = root.newSubManager();
             GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            BadInputException e = assertThrows(BadInputException.class, () -> g.backwardCheckpointed(gc,
                    GptTest.tokens(m, ROWS), null, null, l -> l.sum()));
            assertTrue(e.getMessage().startsWith("train.activation_checkpointing: needs model.dropout 0"));
        }
    }

    /**
     * Loss and every trainable gradient, plain and checkpointed, over two micro-batches (gradients accumulate across
     * them), within tolerance (relative to the largest gradient of each parameter, or an ulp where it is 0) and, where
     * notBitEqual is given, bit-equal for every parameter but those.
     */
    private static void compare(GptConfig cfg, boolean packedAndLora, double tolerance,
                                java.util.Set<String> notBitEqual) {
        Map<String, float[]> plain = new LinkedHashMap<>();
        Map<String, float[]> ckpt = new LinkedHashMap<>();
        float[] plainLoss = grads(cfg, packedAndLora, false, plain);
        float[] ckptLoss = grads(cfg, packedAndLora, true, ckpt);
        assertEquals(plain.keySet(), ckpt.keySet());
        assertArrayEquals(plainLoss, ckptLoss, 0f);
        for (String name : plain.keySet()) {
            float[] a = plain.get(name);
            float[] b = ckpt.get(name);
            double scale = 0;
            for (float v : a) {
                scale = Math.max(scale, Math.abs(v));
            }
            assertArrayEquals(a, b, (float) Math.max(tolerance * scale, 4 * Math.ulp((float) scale)), name);
            if (notBitEqual != null && !notBitEqual.contains(name)) {
                assertArrayEquals(a, b, 0f, name + " bit for bit");
            }
        }
    }

    private static float[] grads(GptConfig cfg, boolean packedAndLora, boolean checkpointed, Map<String, float[]> out) {
        try (Gpt g = Gpt.create(root, cfg, 3); NDManager m = root.newSubManager()) {
            if (packedAndLora) {
                g.addLora(new LoraConfig(2, 4, java.util.List.of("c_attn", "c_fc")), 5);
                // Non-zero B, so the adapters change the function and their A gets a gradient too.
                g.loraParameters().forEach((n, p) -> {
                    float[] v = p.toFloatArray();
                    for (int i = 0; i < v.length; i++) {
                        v[i] += 0.01f * ((i % 7) - 3);
                    }
                    p.set(v);
                });
            }
            float[] losses = new float[2];
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                for (int micro = 0; micro < 2; micro++) {
                    try (NDScope scope = new NDScope()) {
                        NDArray x = GptTest.tokens(m, micro == 0 ? ROWS : NEXT);
                        NDArray y = GptTest.tokens(m, micro == 0 ? NEXT : ROWS);
                        NDArray pos = null;
                        NDArray seg = null;
                        if (packedAndLora) {
                            pos = m.create(new long[] {0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 0, 1}, new Shape(2, 8));
                            seg = m.create(new long[] {1, 1, 1, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2}, new Shape(2, 8));
                        }
                        NDArray loss;
                        if (checkpointed) {
                            loss = g.backwardCheckpointed(gc, x, pos, seg, logits -> Gpt.crossEntropy(logits, y, null));
                        } else {
                            loss = Gpt.crossEntropy(pos == null ? g.forward(x, true) : g.forward(x, pos, seg, true),
                                    y, null);
                            gc.backward(loss);
                        }
                        losses[micro] = loss.getFloat();
                    }
                }
            }
            g.trainableParameters().forEach((name, p) -> out.put(name, p.getGradient().toFloatArray()));
            return losses;
        }
    }
}
