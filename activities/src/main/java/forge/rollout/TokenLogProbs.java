package forge.rollout;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import forge.tensor.EngineArrays;

/**
 * Per-token log-probabilities of a policy over a {@link RolloutBatch}, from {@link forge.model.Gpt#forward} logits:
 * what every RL stage's ratio, entropy and KL are made of.
 */
public final class TokenLogProbs {
    private TokenLogProbs() {}

    /** log-softmax of the logits at every action position, at the sampling temperature: (B, W, V) → (B, W−1, V). */
    public static NDArray actions(NDArray logits, double temperature) {
        long w = logits.getShape().get(1);
        NDArray l = logits.get(new NDIndex(":, 0:{}, :", w - 1));
        return EngineArrays.scale(l, 1.0 / temperature).logSoftmax(-1);
    }

    /** The log-probability of each action's token: (B, W−1, V) with ids (B, W) → (B, W−1). */
    public static NDArray taken(NDArray logProbs, NDArray idx) {
        long w = idx.getShape().get(1);
        // Owned: gather's backward reads the ids after the caller's arrays may be closed.
        NDArray next = EngineArrays.owned(idx.get(new NDIndex(":, 1:{}", w)));
        return logProbs.gather(next.expandDims(-1), -1).squeeze(-1);
    }

    /** Entropy of each position's distribution: (B, W−1, V) → (B, W−1). */
    public static NDArray entropy(NDArray logProbs) {
        return logProbs.exp().mul(logProbs).sum(new int[] {-1}).neg();
    }

    /**
     * The exact KL(p ‖ q) at each position, over the whole vocabulary rather than the sampled token, so it is never
     * negative and needs no sampling: (B, W−1, V) twice → (B, W−1).
     */
    public static NDArray exactKl(NDArray logP, NDArray logQ) {
        return logP.exp().mul(logP.sub(logQ)).sum(new int[] {-1});
    }

    /** Σ x·mask / max(n, 1), as an array that carries gradients. */
    public static NDArray maskedMean(NDArray x, NDArray mask, double n) {
        return EngineArrays.scale(x.mul(mask).sum(), 1.0 / Math.max(n, 1));
    }

    /** The mean of x where mask is 1 (0 when it is nowhere), on the host. */
    public static double maskedMean(NDArray x, NDArray mask) {
        double n = mask.sum().getFloat();
        return n == 0 ? 0 : x.mul(mask).sum().getFloat() / n;
    }

    /** How many positions a mask selects. */
    public static double count(float[] mask) {
        double n = 0;
        for (float x : mask) {
            n += x;
        }
        return n;
    }
}
