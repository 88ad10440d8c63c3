package forge.rollout;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import forge.tensor.EngineArrays;

/**
 * The per-action pieces of the clipped policy-gradient objective PPO and GRPO share, on (B, W−1) arrays; each
 * stage aggregates them its own way. Kept alone so that each is checked against values computed by hand.
 */
public final class PolicyGradient {
    private PolicyGradient() {}

    /** ρ = π/π_old = exp(log π − log π_old). */
    public static NDArray ratio(NDArray logp, NDArray oldLogp) {
        return logp.sub(oldLogp).exp();
    }

    /**
     * The clipped surrogate to minimise, max(−A·ρ, −A·clip(ρ, 1 − ε_low, 1 + ε_high)) = −min(ρA, clip(ρ)A): a
     * ratio that moved past the clip in the advantage's direction earns nothing more, and so carries no gradient.
     */
    public static NDArray clippedSurrogate(NDArray ratio, NDArray adv, double epsLow, double epsHigh) {
        return adv.mul(ratio).neg().maximum(adv.mul(ratio.clip(1 - epsLow, 1 + epsHigh)).neg());
    }

    /** The fraction of masked actions whose ratio lies outside [1 − ε_low, 1 + ε_high]. */
    public static double clipFraction(NDArray ratio, NDArray mask, double epsLow, double epsHigh) {
        NDArray outside = ratio.lt(1 - epsLow).logicalOr(ratio.gt(1 + epsHigh)).toType(DataType.FLOAT32, false);
        return TokenLogProbs.maskedMean(outside, mask);
    }

    /**
     * Schulman's k3 estimate of KL(π ‖ π_ref) per sampled token, exp(r) − r − 1 with r = log π_ref − log π: unbiased,
     * never negative, and what DeepSeekMath's GRPO penalises.
     */
    public static NDArray k3Kl(NDArray logp, NDArray refLogp) {
        NDArray r = refLogp.sub(logp);
        return r.exp().sub(r).sub(EngineArrays.scalar(logp.getManager(), 1));
    }

    /** ½·mean((log π − log π_old)²) over masked actions: how far one update moved the policy (approximate KL). */
    public static double approxKl(NDArray logp, NDArray oldLogp, NDArray mask) {
        NDArray d = logp.sub(oldLogp);
        return 0.5 * TokenLogProbs.maskedMean(d.mul(d), mask);
    }
}
