package forge.stage.ppo;

import ai.djl.ndarray.NDArray;
import forge.rollout.PolicyGradient;
import forge.rollout.RolloutBatch;
import forge.rollout.TokenLogProbs;
import forge.tensor.EngineArrays;

/**
 * PPO's objective in pieces, each alone so that it is checked against values computed by hand: the rewards an
 * iteration shapes from the reward model's score and the KL penalty, the clipped policy loss and the clipped value
 * loss. {@link Gae} turns the shaped rewards into advantages.
 */
final class PpoLoss {
    private PpoLoss() {}

    /**
     * Per-action rewards: −β·(log π − log π_ref) on every reply token (the sampled estimate of the KL penalty), plus
     * the response's score on its last one.
     *
     * @param logp    (rows · actions) the rollout policy's log-probabilities of the sampled tokens
     * @param refLogp the same under the frozen reference
     * @param score   per row, the reward model's (normalised, clipped, penalised) score
     * @param kl      out: per row, Σ over its reply of log π − log π_ref
     */
    static float[] shapedRewards(RolloutBatch b, float[] logp, float[] refLogp, double[] score, double beta,
                                 double[] kl) {
        int actions = b.actions();
        float[] rewards = new float[b.rows() * actions];
        for (int r = 0; r < b.rows(); r++) {
            double rowKl = 0;
            for (int j = b.from()[r]; j < b.to()[r]; j++) {
                int i = r * actions + j;
                double k = logp[i] - refLogp[i];
                rowKl += k;
                rewards[i] = (float) (-beta * k);
            }
            rewards[r * actions + b.to()[r] - 1] += (float) score[r];
            kl[r] = rowKl;
        }
        return rewards;
    }

    /** The clipped surrogate, Σ over masked actions of max(−A·ρ, −A·clip(ρ, 1 ± ε)) / n. */
    static NDArray policy(NDArray ratio, NDArray adv, NDArray mask, double eps, double n) {
        return TokenLogProbs.maskedMean(PolicyGradient.clippedSurrogate(ratio, adv, eps, eps), mask, n);
    }

    /**
     * The clipped value loss, ½ · Σ over masked actions of max((V − R)², (V_old + clip(V − V_old, ±ε_v) − R)²) / n:
     * the critic may not move a value further than ε_v from the one the rollout saw and gain from it.
     */
    static NDArray value(NDArray values, NDArray oldValues, NDArray returns, NDArray mask, double ev, double n) {
        NDArray vClipped = oldValues.add(values.sub(oldValues).clip(-ev, ev));
        NDArray vf = values.sub(returns).square().maximum(vClipped.sub(returns).square());
        return EngineArrays.scale(TokenLogProbs.maskedMean(vf, mask, n), 0.5);
    }
}
