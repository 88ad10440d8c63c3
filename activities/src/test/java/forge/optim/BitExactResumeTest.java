package forge.optim;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.tensor.EngineArrays;
import forge.tensor.Safetensors;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Stopping after k steps, saving model and optimizer as safetensors bytes, rebuilding both from those bytes and
 * finishing must give exactly the bytes of an uninterrupted run — dropout and gradient accumulation included.
 */
class BitExactResumeTest {
    static final GptConfig CFG = new GptConfig(13, 8, 2, 2, 16, 0.2, true);
    static final AdamWConfig OPT = new AdamWConfig(3e-3, 3e-4, 2, 8, 0.9, 0.99, 1e-8, 0.1, 0.5);
    static final long SEED = 1234;
    static final int ACCUMULATION = 2;

    /** The engine RNG is reseeded from (seed, step, micro-step), so dropout masks are a function of the step. */
    static int engineSeed(long seed, long step, int micro) {
        return (int) new SplittableRandom(seed ^ (step * 0x9E3779B97F4A7C15L) ^ micro).nextLong();
    }

    static void train(NDManager root, Gpt model, AdamW opt, int from, int to) {
        for (int step = from; step < to; step++) {
            try (NDScope scope = new NDScope(); NDManager data = root.newSubManager()) {
                for (int micro = 0; micro < ACCUMULATION; micro++) {
                    SplittableRandom batchRng = new SplittableRandom(SEED * 31 + step * 7L + micro);
                    long[] x = new long[2 * 8];
                    long[] y = new long[2 * 8];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = batchRng.nextInt(13);
                        y[i] = (x[i] * 3 + 1) % 13;
                    }
                    Engine.getInstance().setRandomSeed(engineSeed(SEED, step, micro));
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray logits = model.forward(data.create(x, new Shape(2, 8)), true);
                        NDArray loss = Gpt.crossEntropy(logits, data.create(y, new Shape(2, 8)), null);
                        gc.backward(EngineArrays.scale(loss, 1.0 / ACCUMULATION));
                    }
                }
                opt.step(step);
            }
        }
    }

    @Test
    void resumingFromSafetensorsBytesIsBitExact() {
        int n = 8;
        int k = 3;
        try (NDManager root = NDManager.newBaseManager()) {
            byte[] straightModel;
            byte[] straightOpt;
            try (Gpt g = Gpt.create(root, CFG, SEED); AdamW o = new AdamW(root, g.parameters(), OPT)) {
                train(root, g, o, 0, n);
                straightModel = Safetensors.write(g.snapshot(), Map.of());
                straightOpt = Safetensors.write(o.snapshotState(), Map.of());
            }

            byte[] savedModel;
            byte[] savedOpt;
            byte[] initial;
            try (Gpt g = Gpt.create(root, CFG, SEED); AdamW o = new AdamW(root, g.parameters(), OPT)) {
                initial = Safetensors.write(g.snapshot(), Map.of());
                train(root, g, o, 0, k);
                savedModel = Safetensors.write(g.snapshot(), Map.of("step", Integer.toString(k)));
                savedOpt = Safetensors.write(o.snapshotState(), Map.of());
            }
            byte[] resumedModel;
            byte[] resumedOpt;
            // A different init seed: everything must come from the bytes.
            try (Gpt g = Gpt.create(root, CFG, 999); AdamW o = new AdamW(root, g.parameters(), OPT)) {
                g.load(Safetensors.read(savedModel));
                o.loadState(Safetensors.read(savedOpt));
                train(root, g, o, k, n);
                resumedModel = Safetensors.write(g.snapshot(), Map.of());
                resumedOpt = Safetensors.write(o.snapshotState(), Map.of());
            }
            assertFalse(java.util.Arrays.equals(initial, straightModel), "training changed the weights");
            assertArrayEquals(straightModel, resumedModel);
            assertArrayEquals(straightOpt, resumedOpt);
        }
    }

    @Test
    void dropoutFollowsTheEngineSeed() {
        try (NDManager root = NDManager.newBaseManager(); Gpt g = Gpt.create(root, CFG, SEED)) {
            NDArray x = root.create(new long[] {1, 2, 3, 4}, new Shape(1, 4));
            Engine.getInstance().setRandomSeed(1);
            float[] a = g.forward(x, true).toFloatArray();
            Engine.getInstance().setRandomSeed(1);
            float[] b = g.forward(x, true).toFloatArray();
            Engine.getInstance().setRandomSeed(2);
            float[] c = g.forward(x, true).toFloatArray();
            float[] eval1 = g.forward(x, false).toFloatArray();
            float[] eval2 = g.forward(x, false).toFloatArray();
            assertArrayEquals(a, b);
            assertFalse(java.util.Arrays.equals(a, c));
            assertArrayEquals(eval1, eval2);
            assertTrue(!java.util.Arrays.equals(a, eval1));
        }
    }
}
