package forge.stage.grpo;

import ai.djl.ndarray.NDArray;
import forge.rollout.PolicyGradient;
import forge.rollout.RolloutBatch;
import forge.tensor.EngineArrays;

/**
 * GRPO's objective in pieces (Shao et al. 2024, DeepSeekMath; Dr. GRPO and DAPO's variants), each alone so that it
 * is checked against values computed by hand: group-relative advantages, how per-token losses are weighed into one,
 * and the per-token loss itself.
 */
final class GrpoLoss {
    /** Added to a group's standard deviation before dividing, as TRL does: a group of equal rewards gets 0, not NaN. */
    static final double STD_EPS = 1e-4;

    private GrpoLoss() {}

    /**
     * Each completion's advantage against the other completions of its prompt: A = r − mean(group), divided by the
     * group's (unbiased) standard deviation + {@link #STD_EPS} when {@code scale}. Groups are consecutive runs of
     * {@code groupSize} rewards.
     */
    static double[] advantages(double[] rewards, int groupSize, boolean scale) {
        if (rewards.length % groupSize != 0) {
            throw new IllegalArgumentException(rewards.length + " rewards are not whole groups of " + groupSize);
        }
        double[] out = new double[rewards.length];
        for (int lo = 0; lo < rewards.length; lo += groupSize) {
            double mean = 0;
            for (int i = lo; i < lo + groupSize; i++) {
                mean += rewards[i];
            }
            mean /= groupSize;
            double sq = 0;
            for (int i = lo; i < lo + groupSize; i++) {
                sq += (rewards[i] - mean) * (rewards[i] - mean);
            }
            double std = Math.sqrt(sq / (groupSize - 1));
            for (int i = lo; i < lo + groupSize; i++) {
                out[i] = scale ? (rewards[i] - mean) / (std + STD_EPS) : rewards[i] - mean;
            }
        }
        return out;
    }

    /** Groups whose rewards are all equal: their advantages are 0, so they teach nothing (DAPO filters them). */
    static int flatGroups(double[] rewards, int groupSize) {
        int flat = 0;
        for (int lo = 0; lo < rewards.length; lo += groupSize) {
            boolean same = true;
            for (int i = lo + 1; i < lo + groupSize; i++) {
                same &= rewards[i] == rewards[lo];
            }
            flat += same ? 1 : 0;
        }
        return flat;
    }

    /** Per action, its completion's advantage on the completion's tokens and 0 elsewhere: (rows · actions). */
    static float[] perAction(RolloutBatch b, double[] advantages) {
        float[] out = new float[b.rows() * b.actions()];
        for (int r = 0; r < b.rows(); r++) {
            for (int j = b.from()[r]; j < b.to()[r]; j++) {
                out[r * b.actions() + j] = (float) advantages[r];
            }
        }
        return out;
    }

    /**
     * The weight of each action's loss in the batch's: {@code token}, 1 / (completion tokens in the batch);
     * {@code sequence}, 1 / (its completion's length · completions in the batch). Either sums to 1.
     */
    static float[] weights(RolloutBatch b, GrpoConfig.Aggregation aggregation) {
        float[] w = new float[b.rows() * b.actions()];
        long tokens = 0;
        for (int r = 0; r < b.rows(); r++) {
            tokens += b.replyLength(r);
        }
        for (int r = 0; r < b.rows(); r++) {
            int n = b.replyLength(r);
            double each = aggregation == GrpoConfig.Aggregation.TOKEN ? 1.0 / Math.max(1, tokens)
                    : 1.0 / ((double) Math.max(1, n) * b.rows());
            for (int j = b.from()[r]; j < b.to()[r]; j++) {
                w[r * b.actions() + j] = (float) each;
            }
        }
        return w;
    }

    /**
     * The per-token loss, −min(ρA, clip(ρ, 1 − ε_low, 1 + ε_high)A) + β·k3(π, π_ref): (B, W−1). With β = 0 the
     * reference is not needed and {@code refLogp} may be null.
     */
    static NDArray perToken(NDArray ratio, NDArray adv, NDArray logp, NDArray refLogp, double beta, double epsLow,
                            double epsHigh) {
        NDArray pg = PolicyGradient.clippedSurrogate(ratio, adv, epsLow, epsHigh);
        return beta == 0 ? pg : pg.add(EngineArrays.scale(PolicyGradient.k3Kl(logp, refLogp), beta));
    }

    /** Σ weight · per-token loss: the batch's loss. */
    static NDArray aggregate(NDArray perToken, NDArray weights) {
        return perToken.mul(weights).sum();
    }
}
