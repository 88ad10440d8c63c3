package forge.stage.grpo;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.rollout.PolicyGradient;
import forge.rollout.RolloutBatch;
import forge.tensor.EngineArrays;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static forge.rollout.PolicyGradientTest.a;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GRPO's advantages, loss weights and per-token loss against values worked out by hand, and a toy it solves. */
class GrpoLossTest {
    @Test
    void advantagesAreRelativeToTheGroup() {
        double[] rewards = {1, 0, 0, 0, 1, 1, 1, 1};
        // Group one: mean ¼, unbiased std √(0.75 / 3) = ½. Group two is flat: all 0, and counted as such.
        double s = 0.5 + GrpoLoss.STD_EPS;
        assertArrayEquals(new double[] {0.75 / s, -0.25 / s, -0.25 / s, -0.25 / s, 0, 0, 0, 0},
                GrpoLoss.advantages(rewards, 4, true), 1e-12);
        // Dr. GRPO: centred only.
        assertArrayEquals(new double[] {0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0},
                GrpoLoss.advantages(rewards, 4, false), 1e-12);
        assertEquals(1, GrpoLoss.flatGroups(rewards, 4));
    }

    @Test
    void tokenAndSequenceAggregationWeighTheRepliesDifferently() {
        // Prompts of 2 tokens; replies of 3 and 1 tokens (9 is <|end|>).
        RolloutBatch b = RolloutBatch.of(List.of(new int[] {1, 2, 3, 4, 9}, new int[] {1, 2, 9}), new int[] {2, 2}, 9);
        // token: every reply token 1/4. sequence: the long reply's tokens 1/(3·2), the short one's 1/(1·2).
        assertArrayEquals(new float[] {0, .25f, .25f, .25f, 0, .25f, 0, 0},
                GrpoLoss.weights(b, GrpoConfig.Aggregation.TOKEN), 1e-6f);
        assertArrayEquals(new float[] {0, 1 / 6f, 1 / 6f, 1 / 6f, 0, .5f, 0, 0},
                GrpoLoss.weights(b, GrpoConfig.Aggregation.SEQUENCE), 1e-6f);
        assertArrayEquals(new float[] {0, 2, 2, 2, 0, -1, 0, 0}, GrpoLoss.perAction(b, new double[] {2, -1}), 0f);
    }

    @Test
    void perTokenLossAddsBetaTimesK3() {
        try (NDManager m = NDManager.newBaseManager()) {
            // ρ = 1, A = 1: −1; k3 at log π_ref − log π = −0.5 is e^−0.5 − 0.5 ... = 0.1065307, times β = ½.
            NDArray loss = GrpoLoss.perToken(a(m, 1f), a(m, 1f), a(m, -1f), a(m, -1.5f), 0.5, 0.2, 0.2);
            assertEquals(-1 + 0.5 * 0.1065307, loss.getFloat(), 1e-6);
            assertEquals(-1f, GrpoLoss.perToken(a(m, 1f), a(m, 1f), a(m, -1f), null, 0, 0.2, 0.2).getFloat(), 1e-6f);
            assertEquals(0.25f * -1 + 0.75f * 2, GrpoLoss.aggregate(a(m, -1f, 2f), a(m, 0.25f, 0.75f)).getFloat(),
                    1e-6f);
        }
    }

    /**
     * A one-token "policy" (logits over 4 answers, one right) trained with GRPO's own pieces: groups of 8 sampled
     * answers, group-relative advantages, the clipped surrogate, two passes per batch. The right answer's
     * probability rises from ¼.
     */
    @Test
    void aFewStepsRaiseTheRewardOnAToyProblem() {
        int vocab = 4;
        int right = 2;
        int group = 8;
        float[] theta = new float[vocab];
        Random rng = new Random(11);
        try (NDManager m = NDManager.newBaseManager()) {
            double start = probability(m, theta, right);
            for (int step = 0; step < 15; step++) {
                float[] p = softmax(theta);
                int[] answers = new int[group];
                double[] rewards = new double[group];
                float[] oneHot = new float[group * vocab];
                for (int i = 0; i < group; i++) {
                    answers[i] = sample(p, rng);
                    rewards[i] = answers[i] == right ? 1 : 0;
                    oneHot[i * vocab + answers[i]] = 1;
                }
                double[] adv = GrpoLoss.advantages(rewards, group, true);
                float[] advF = new float[group];
                float[] old = new float[group];
                for (int i = 0; i < group; i++) {
                    advF[i] = (float) adv[i];
                    old[i] = (float) Math.log(p[answers[i]]);
                }
                for (int epoch = 0; epoch < 2; epoch++) {
                    try (NDScope scope = new NDScope()) {
                        NDArray t = EngineArrays.of(m, theta, new Shape(vocab));
                        t.setRequiresGradient(true);
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            NDArray logp = t.logSoftmax(0).expandDims(0)
                                    .mul(EngineArrays.of(m, oneHot, new Shape(group, vocab))).sum(new int[] {1});
                            NDArray ratio = PolicyGradient.ratio(logp, EngineArrays.of(m, old, new Shape(group)));
                            NDArray perToken = GrpoLoss.perToken(ratio, EngineArrays.of(m, advF, new Shape(group)),
                                    logp, null, 0, 0.2, 0.2);
                            float[] w = new float[group];
                            java.util.Arrays.fill(w, 1f / group);
                            gc.backward(GrpoLoss.aggregate(perToken, EngineArrays.of(m, w, new Shape(group))));
                        }
                        float[] g = t.getGradient().toFloatArray();
                        for (int v = 0; v < vocab; v++) {
                            theta[v] -= 0.5f * g[v];
                        }
                    }
                }
            }
            double end = probability(m, theta, right);
            assertEquals(0.25, start, 1e-9);
            assertTrue(end > 0.6, "the right answer's probability rose from 0.25 to " + end);
        }
    }

    private static double probability(NDManager m, float[] theta, int i) {
        return softmax(theta)[i];
    }

    private static float[] softmax(float[] x) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : x) {
            max = Math.max(max, v);
        }
        double sum = 0;
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            sum += Math.exp(x[i] - max);
        }
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) (Math.exp(x[i] - max) / sum);
        }
        return out;
    }

    private static int sample(float[] p, Random rng) {
        double u = rng.nextDouble();
        double c = 0;
        for (int i = 0; i < p.length; i++) {
            c += p[i];
            if (u < c) {
                return i;
            }
        }
        return p.length - 1;
    }
}
