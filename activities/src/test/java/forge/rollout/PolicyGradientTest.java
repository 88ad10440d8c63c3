package forge.rollout;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import forge.tensor.EngineArrays;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The clipped policy-gradient pieces PPO and GRPO share, against values worked out by hand. */
public class PolicyGradientTest {
    public static NDArray a(NDManager m, float... v) {
        return EngineArrays.of(m, v, new Shape(v.length));
    }

    @Test
    void ratioClipClipFractionK3AndApproxKl() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray logp = a(m, -1.0f, -2.0f, -0.5f);
            NDArray old = a(m, -1.2f, -1.5f, -0.5f);
            NDArray ratio = PolicyGradient.ratio(logp, old);
            // exp(0.2), exp(-0.5), exp(0)
            assertArrayEquals(new float[] {1.2214028f, 0.6065307f, 1f}, ratio.toFloatArray(), 1e-6f);
            // A = 1: ρ = 1.22 is past 1.2, so −min(1.22, 1.2) = −1.2. A = −1: −min(−0.61, −0.8) = 0.8 (the clip
            // binds on the pessimistic side). A = 2 at ρ = 1: −2.
            NDArray loss = PolicyGradient.clippedSurrogate(ratio, a(m, 1f, -1f, 2f), 0.2, 0.2);
            assertArrayEquals(new float[] {-1.2f, 0.8f, -2f}, loss.toFloatArray(), 1e-6f);
            // Asymmetric clip (DAPO's clip-higher): 1 + 0.3 no longer binds on the first.
            assertEquals(-1.2214028f, PolicyGradient.clippedSurrogate(ratio, a(m, 1f, -1f, 2f), 0.2, 0.3)
                    .toFloatArray()[0], 1e-6f);
            assertEquals(2.0 / 3, PolicyGradient.clipFraction(ratio, a(m, 1f, 1f, 1f), 0.2, 0.2), 1e-6);
            assertEquals(0.5, PolicyGradient.clipFraction(ratio, a(m, 1f, 0f, 1f), 0.2, 0.2), 1e-6);
            // k3 with r = log π_ref − log π = −0.5: e^−0.5 + 0.5 − 1; equal log-probs give 0.
            NDArray k3 = PolicyGradient.k3Kl(a(m, -1f, -2f), a(m, -1.5f, -2f));
            assertArrayEquals(new float[] {0.1065307f, 0f}, k3.toFloatArray(), 1e-6f);
            // ½ · mean(0.2², 0.5², 0).
            assertEquals(0.5 * (0.04 + 0.25) / 3, PolicyGradient.approxKl(logp, old, a(m, 1f, 1f, 1f)), 1e-6);
        }
    }
}
