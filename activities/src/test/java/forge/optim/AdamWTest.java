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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AdamWTest {

    /** torch.optim.AdamW for one tensor, in doubles, written from the torch docs' algorithm. */
    static final class Reference {
        final double[] p;
        final double[] m;
        final double[] v;
        final boolean decay;

        Reference(float[] init, boolean decay) {
            p = new double[init.length];
            for (int i = 0; i < init.length; i++) {
                p[i] = init[i];
            }
            m = new double[init.length];
            v = new double[init.length];
            this.decay = decay;
        }

        void step(AdamWConfig c, long step, double[] g) {
            double lr = LrSchedule.at(c, step);
            long t = step + 1;
            double bc1 = 1 - Math.pow(c.beta1(), t);
            double bc2 = 1 - Math.pow(c.beta2(), t);
            for (int i = 0; i < p.length; i++) {
                if (decay) {
                    p[i] *= 1 - lr * c.weightDecay();
                }
                m[i] = c.beta1() * m[i] + (1 - c.beta1()) * g[i];
                v[i] = c.beta2() * v[i] + (1 - c.beta2()) * g[i] * g[i];
                double denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + c.eps();
                p[i] -= lr / bc1 * m[i] / denom;
            }
        }
    }

    /** Sets grad(p) += coef by backpropagating sum(p · coef). */
    private static void accumulate(NDManager m, NDArray p, float[] coef) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(p.mul(EngineArrays.of(m, coef, p.getShape())).sum());
        }
    }

    private static void assertClose(double[] want, float[] got, double tol) {
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tol * Math.max(1, Math.abs(want[i])), "element " + i);
        }
    }

    @Test
    void stepsMatchTorchAdamWWithDecayOnlyOnMatrices() {
        // eps large enough that its placement inside the bias correction shows.
        AdamWConfig c = new AdamWConfig(0.1, 0.01, 0, 10, 0.9, 0.95, 1e-2, 0.5, 0);
        float[] w0 = {0.5f, -1.0f, 2.0f, 0.25f};
        float[] b0 = {1.0f, -2.0f};
        float[][] gw = {{0.1f, -0.2f, 0.3f, 0.05f}, {-0.4f, 0.01f, 0.2f, 0.0f}, {0.3f, 0.3f, -0.1f, 1.0f}};
        float[][] gb = {{1.0f, -0.5f}, {0.002f, 0.7f}, {-0.3f, 0.1f}};
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(w0, new Shape(2, 2));
            NDArray b = m.create(b0, new Shape(2));
            w.setRequiresGradient(true);
            b.setRequiresGradient(true);
            LinkedHashMap<String, NDArray> params = new LinkedHashMap<>(Map.of("w", w));
            params.put("b", b);
            Reference rw = new Reference(w0, true);
            Reference rb = new Reference(b0, false);
            try (AdamW adam = new AdamW(m, params, c)) {
                for (int step = 0; step < 3; step++) {
                    accumulate(m, w, gw[step]);
                    accumulate(m, b, gb[step]);
                    AdamW.StepStats s = adam.step(step);
                    rw.step(c, step, toDouble(gw[step]));
                    rb.step(c, step, toDouble(gb[step]));
                    assertEquals(LrSchedule.at(c, step), s.lr());
                    assertClose(rw.p, w.toFloatArray(), 1e-6);
                    assertClose(rb.p, b.toFloatArray(), 1e-6);
                    assertClose(new double[4], w.getGradient().toFloatArray(), 0);
                    assertClose(new double[2], b.getGradient().toFloatArray(), 0);
                }
                assertClose(rw.m, adam.snapshotState().get("exp_avg.w").toFloatArray(), 1e-6);
                assertClose(rw.v, adam.snapshotState().get("exp_avg_sq.w").toFloatArray(), 1e-6);
            }
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @Test
    void clipsByTheGlobalNormAndReportsItBeforeClipping() {
        AdamWConfig c = new AdamWConfig(0.1, 0.1, 0, 0, 0.9, 0.99, 1e-8, 0.0, 1.0);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.create(new float[] {1, 1}, new Shape(2));
            NDArray b = m.create(new float[] {1}, new Shape(1));
            a.setRequiresGradient(true);
            b.setRequiresGradient(true);
            LinkedHashMap<String, NDArray> params = new LinkedHashMap<>();
            params.put("a", a);
            params.put("b", b);
            Reference ra = new Reference(new float[] {1, 1}, false);
            Reference rb = new Reference(new float[] {1}, false);
            try (AdamW adam = new AdamW(m, params, c)) {
                // Two backward calls accumulate: grads (3, 0) + (0, 0) and (2) + (2) → norm √(9 + 16) = 5.
                accumulate(m, a, new float[] {3, 0});
                accumulate(m, b, new float[] {2});
                accumulate(m, b, new float[] {2});
                AdamW.StepStats s = adam.step(0);
                assertEquals(5.0, s.gradNorm(), 1e-6);
                double k = 1.0 / (5 + 1e-6);
                ra.step(c, 0, new double[] {3 * k, 0});
                rb.step(c, 0, new double[] {4 * k});
                assertClose(ra.p, a.toFloatArray(), 1e-6);
                assertClose(rb.p, b.toFloatArray(), 1e-6);
                assertClose(ra.v, adam.snapshotState().get("exp_avg_sq.a").toFloatArray(), 1e-6);

                // Under the threshold nothing is scaled.
                accumulate(m, a, new float[] {0.3f, 0.4f});
                assertEquals(0.5, adam.step(1).gradNorm(), 1e-6);
                ra.step(c, 1, new double[] {0.3f, 0.4f});
                rb.step(c, 1, new double[] {0});
                assertClose(ra.p, a.toFloatArray(), 1e-6);
                assertClose(rb.p, b.toFloatArray(), 1e-6);
            }
        }
    }

    @Test
    void zeroGradClearsEvenNonFiniteGradients() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.create(new float[] {1, 2}, new Shape(2));
            a.setRequiresGradient(true);
            LinkedHashMap<String, NDArray> params = new LinkedHashMap<>(Map.of("a", a));
            try (AdamW adam = new AdamW(m, params, AdamWConfig.nanoGptBaby())) {
                accumulate(m, a, new float[] {Float.NaN, Float.POSITIVE_INFINITY});
                adam.zeroGrad();
                assertClose(new double[2], a.getGradient().toFloatArray(), 0);
                accumulate(m, a, new float[] {1, 1});
                assertTrue(Double.isFinite(adam.step(0).gradNorm()));
                assertTrue(Float.isFinite(a.toFloatArray()[0]));
            }
        }
    }

    /** A NaN or infinite gradient norm is refused before anything is applied, clipping or not. */
    @Test
    void aNonFiniteGradientNormChangesNoWeightAndNoMoment() {
        for (double clip : new double[] {0.0, 1.0}) {
            AdamWConfig c = new AdamWConfig(0.1, 0.1, 0, 0, 0.9, 0.99, 1e-8, 0.1, clip);
            try (NDManager m = NDManager.newBaseManager()) {
                NDArray a = m.create(new float[] {1, 2, 3, 4}, new Shape(2, 2));
                NDArray b = m.create(new float[] {5}, new Shape(1));
                a.setRequiresGradient(true);
                b.setRequiresGradient(true);
                LinkedHashMap<String, NDArray> params = new LinkedHashMap<>();
                params.put("a", a);
                params.put("b", b);
                try (AdamW adam = new AdamW(m, params, c)) {
                    accumulate(m, a, new float[] {1, 1, 1, 1});
                    accumulate(m, b, new float[] {1});
                    adam.step(0);
                    float[] aBefore = a.toFloatArray();
                    float[] bBefore = b.toFloatArray();
                    Map<String, HostTensor> momentsBefore = adam.snapshotState();
                    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
                        accumulate(m, a, new float[] {0.5f, bad, 0.5f, 0.5f});
                        accumulate(m, b, new float[] {1});
                        NonFiniteGradientException e = assertThrows(NonFiniteGradientException.class,
                                () -> adam.step(1));
                        assertTrue(!Double.isFinite(e.gradNorm()), "clip " + clip);
                        assertClose(toDouble(aBefore), a.toFloatArray(), 0);
                        assertClose(toDouble(bBefore), b.toFloatArray(), 0);
                        assertEquals(momentsBefore, adam.snapshotState(), "the moments are untouched");
                        assertClose(new double[4], a.getGradient().toFloatArray(), 0);
                    }
                    accumulate(m, a, new float[] {1, 1, 1, 1});
                    assertTrue(Double.isFinite(adam.step(1).gradNorm()), "the next good step goes through");
                }
            }
        }
    }

    @Test
    void stateRoundTripsAndIsValidated() {
        AdamWConfig c = AdamWConfig.nanoGptBaby();
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.create(new float[] {1, 2, 3, 4}, new Shape(2, 2));
            a.setRequiresGradient(true);
            LinkedHashMap<String, NDArray> params = new LinkedHashMap<>(Map.of("h.0.w", a));
            try (AdamW one = new AdamW(m, params, c); AdamW two = new AdamW(m, params, c)) {
                accumulate(m, a, new float[] {1, -2, 3, -4});
                one.step(0);
                Map<String, HostTensor> s = one.snapshotState();
                assertEquals(java.util.List.of("exp_avg.h.0.w", "exp_avg_sq.h.0.w"), java.util.List.copyOf(s.keySet()));
                two.loadState(s);
                assertEquals(s, two.snapshotState());

                Map<String, HostTensor> bad = new LinkedHashMap<>(s);
                bad.put("exp_avg.h.0.w", HostTensor.f32(new long[] {4}, new float[4]));
                assertEquals("optimizer checkpoint tensor exp_avg.h.0.w is F32 [4], expected F32 [2, 2]",
                        assertThrows(BadInputException.class, () -> two.loadState(bad)).getMessage());
                Map<String, HostTensor> missing = new LinkedHashMap<>(s);
                missing.remove("exp_avg_sq.h.0.w");
                assertEquals("optimizer checkpoint is missing tensor exp_avg_sq.h.0.w",
                        assertThrows(BadInputException.class, () -> two.loadState(missing)).getMessage());
                Map<String, HostTensor> extra = new LinkedHashMap<>(s);
                extra.put("exp_avg.other", HostTensor.f32(new long[] {1}, new float[1]));
                assertTrue(assertThrows(BadInputException.class, () -> two.loadState(extra)).getMessage()
                        .contains("exp_avg.other"));
            }
        }
    }
}
