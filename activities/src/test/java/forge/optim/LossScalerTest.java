package forge.optim;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.errors.BadInputException;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GradScaler's rule by hand-computed sequences, and AdamW's use of it: unscale before clip, skip on overflow. */
class LossScalerTest {

    @Test
    void growsAfterTwoThousandCleanStepsAndBacksOffOnOverflow() {
        LossScaler s = new LossScaler();
        assertEquals(65536.0, s.scale());
        for (int i = 0; i < 1999; i++) {
            s.update(true);
        }
        assertEquals(65536.0, s.scale());
        assertEquals(1999, s.growthTracker());
        s.update(true);                                   // the 2000th clean step doubles
        assertEquals(131072.0, s.scale());
        assertEquals(0, s.growthTracker());
        s.update(true);
        s.update(false);                                  // overflow: halve, and the count starts again
        assertEquals(65536.0, s.scale());
        assertEquals(0, s.growthTracker());
        s.update(false);
        s.update(false);
        assertEquals(16384.0, s.scale());
        for (int i = 0; i < 1999; i++) {
            s.update(true);
        }
        s.update(false);                                  // one short of growth: the 1999 clean steps are forgotten
        assertEquals(8192.0, s.scale());
        for (int i = 0; i < 2000; i++) {
            s.update(true);
        }
        assertEquals(16384.0, s.scale());
    }

    @Test
    void aScaleThatNeverSettlesIsDivergenceNotAnEndlessSkip() {
        LossScaler s = new LossScaler();
        NonFiniteGradientException e = assertThrows(NonFiniteGradientException.class, () -> {
            for (int i = 0; i < 100; i++) {
                s.update(false);
            }
        });
        assertTrue(e.getMessage().contains("diverged"), e.getMessage());
        assertTrue(s.scale() < LossScaler.MIN_SCALE);
    }

    private static AdamWConfig cfg(double clip, boolean scaling) {
        return new AdamWConfig(0.1, 0.1, 0, 10, 0.9, 0.99, 1e-8, 0.0, clip, scaling);
    }

    /** grad(p) += coef · scale, what a backward of the scaled loss sum(p · coef) · scale leaves. */
    private static void backward(NDManager m, NDArray p, float[] coef, double scale) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(EngineArrays.scale(p.mul(EngineArrays.of(m, coef, p.getShape())).sum(), scale));
        }
    }

    @Test
    void unscalesBeforeClippingSoTheUpdateIsTheUnscaledOne() {
        float[] init = {1f, -2f, 0.5f, 3f};
        float[] g = {3f, 4f, 0f, 0f};                     // norm 5, clipped to 1
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray plain = m.create(init, new Shape(4)).duplicate();
            plain.setRequiresGradient(true);
            NDArray scaled = m.create(init, new Shape(4)).duplicate();
            scaled.setRequiresGradient(true);
            LinkedHashMap<String, NDArray> pp = new LinkedHashMap<>(Map.of("w", plain));
            LinkedHashMap<String, NDArray> ps = new LinkedHashMap<>(Map.of("w", scaled));
            try (AdamW a = new AdamW(m, pp, cfg(1.0, false)); AdamW b = new AdamW(m, ps, cfg(1.0, true))) {
                backward(m, plain, g, 1);
                backward(m, scaled, g, b.lossScaler().scale());
                AdamW.StepStats sa = a.step(0);
                AdamW.StepStats sb = b.step(0);
                assertEquals(5.0, sa.gradNorm(), 1e-6);
                assertEquals(5.0, sb.gradNorm(), 1e-6);   // measured unscaled
                assertFalse(sb.skipped());
                assertArrayEquals(plain.toFloatArray(), scaled.toFloatArray(), 1e-7f);
                assertEquals(1, b.lossScaler().growthTracker());
            }
        }
    }

    @Test
    void anOverflowingStepIsSkippedAndTheScaleBacksOff() {
        float[] init = {1f, 2f};
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray p = m.create(init, new Shape(2)).duplicate();
            p.setRequiresGradient(true);
            try (AdamW a = new AdamW(m, new LinkedHashMap<>(Map.of("w", p)), cfg(1.0, true))) {
                backward(m, p, new float[] {Float.POSITIVE_INFINITY, 1f}, a.lossScaler().scale());
                AdamW.StepStats s = a.step(0);
                assertTrue(s.skipped());
                assertArrayEquals(init, p.toFloatArray());                    // nothing applied
                assertArrayEquals(new float[] {0f, 0f}, p.getGradient().toFloatArray()); // and the grads dropped
                assertEquals(32768.0, a.lossScaler().scale());
                HostTensor mom = a.snapshotState().get("exp_avg.w");
                assertArrayEquals(new float[] {0f, 0f}, mom.toFloatArray());
                // The next clean step trains at the backed-off scale.
                backward(m, p, new float[] {0.5f, 0.5f}, a.lossScaler().scale());
                assertFalse(a.step(1).skipped());
                assertEquals(1, a.lossScaler().growthTracker());
            }
        }
    }

    @Test
    void checkpointRoundTripKeepsTheScaleAndRefusesAMismatchedPrecision() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray p = m.create(new float[] {1f, 2f}, new Shape(2)).duplicate();
            p.setRequiresGradient(true);
            Map<String, HostTensor> saved;
            try (AdamW a = new AdamW(m, new LinkedHashMap<>(Map.of("w", p)), cfg(0, true))) {
                backward(m, p, new float[] {Float.NaN, 1f}, a.lossScaler().scale());
                a.step(0);                                                     // skipped: 2^15
                for (int i = 1; i <= 3; i++) {
                    backward(m, p, new float[] {0.1f, 0.2f}, a.lossScaler().scale());
                    a.step(i);
                }
                saved = a.snapshotState();
            }
            try (AdamW b = new AdamW(m, new LinkedHashMap<>(Map.of("w", p)), cfg(0, true))) {
                b.loadState(saved);
                assertEquals(32768.0, b.lossScaler().scale());
                assertEquals(3, b.lossScaler().growthTracker());
            }
            try (AdamW fp32 = new AdamW(m, new LinkedHashMap<>(Map.of("w", p)), cfg(0, false))) {
                BadInputException e = assertThrows(BadInputException.class, () -> fp32.loadState(saved));
                assertTrue(e.getMessage().contains("fp16"), e.getMessage());
            }
            Map<String, HostTensor> noScaler = new LinkedHashMap<>(saved);
            noScaler.keySet().removeIf(LossScaler::isState);
            try (AdamW fp16 = new AdamW(m, new LinkedHashMap<>(Map.of("w", p)), cfg(0, true))) {
                BadInputException e = assertThrows(BadInputException.class, () -> fp16.loadState(noScaler));
                assertTrue(e.getMessage().contains("not written by an fp16 run"), e.getMessage());
            }
        }
    }
}
