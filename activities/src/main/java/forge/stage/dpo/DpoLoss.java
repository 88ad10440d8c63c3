package forge.stage.dpo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import forge.preference.PreferenceBatch;
import forge.rollout.TokenLogProbs;
import forge.tensor.EngineArrays;

/**
 * DPO's objective in pieces (Rafailov et al. 2023; IPO, Azar et al. 2023), each alone so that it is checked against
 * values computed by hand. With h = (log π(y_c) − log π_ref(y_c)) − (log π(y_r) − log π_ref(y_r)) for a pair's
 * chosen and rejected replies, the sigmoid loss is −log σ(β·h) and IPO's is (h − 1/(2β))²; β·(log π − log π_ref) is
 * the implicit reward whose margins and pair accuracy the stage reports.
 */
final class DpoLoss {
    /** How a pair's log-ratio difference becomes its loss. */
    enum Kind {
        /** −log σ(β·h): the DPO paper's loss, a Bradley–Terry likelihood of the implicit reward. */
        SIGMOID,
        /**
         * (h − 1/(2β))² on log-probabilities averaged over each reply's tokens (as TRL does): pulls the margin to a
         * finite target instead of pushing it to infinity, which over-fits deterministic preferences less.
         */
        IPO
    }

    private DpoLoss() {}

    /**
     * Per action (B, W−1): 1 on the reply's tokens (from the row's {@code replyStart}, after the chat template's
     * generation prompt, through its closing end-of-turn token), 0 on the prompt and padding. Action j predicts
     * token j + 1.
     */
    static float[] replyMask(PreferenceBatch b) {
        int w = b.blockSize();
        float[] mask = new float[b.rows() * (w - 1)];
        for (int r = 0; r < b.rows(); r++) {
            int last = b.lastIndex()[r];
            // Tokens replyStart .. last are the reply; they are predicted by actions replyStart−1 .. last−1.
            for (int j = b.replyStart()[r] - 1; j < last; j++) {
                mask[r * (w - 1) + j] = 1;
            }
        }
        return mask;
    }

    /**
     * Each row's reply log-probability Σ log π(token) over the mask, or its mean over the reply's tokens when
     * {@code perToken}: logits (B, W, V), ids (B, W), mask (B, W−1) → (B,).
     */
    static NDArray sequenceLogProbs(NDArray logits, NDArray ids, NDArray mask, boolean perToken) {
        NDArray taken = TokenLogProbs.taken(TokenLogProbs.actions(logits, 1.0), ids);           // (B, W-1)
        NDArray sum = taken.mul(mask).sum(new int[] {1});                                        // (B,)
        // The mask carries no gradient, so maximum(Number) on its counts is safe here.
        return perToken ? sum.div(mask.sum(new int[] {1}).maximum(1f)) : sum;
    }

    /** Per pair, h: the policy's log-ratio to the reference on the chosen reply minus that on the rejected. */
    static NDArray logRatioMargins(NDArray policy, NDArray reference, NDArray chosenRow, NDArray rejectedRow) {
        NDArray ratio = policy.sub(reference);                                                   // (B,)
        return ratio.gather(chosenRow, 0).sub(ratio.gather(rejectedRow, 0));                     // (P,)
    }

    /** Per pair, the loss of its h: (P,) → (P,). */
    static NDArray pairLosses(NDArray h, double beta, Kind kind) {
        return switch (kind) {
            case SIGMOID -> Activation.softPlus(EngineArrays.scale(h, -beta));   // −log σ(βh) = log(1 + e^{−βh})
            case IPO -> {
                try (NDArray target = EngineArrays.scalar(h.getManager(), 1.0 / (2 * beta))) {
                    NDArray d = h.sub(target);
                    yield d.mul(d);
                }
            }
        };
    }

    /** The same losses on the host, for logging and tests. */
    static double pairLoss(double h, double beta, Kind kind) {
        return switch (kind) {
            case SIGMOID -> Math.log1p(Math.exp(-beta * h));
            case IPO -> Math.pow(h - 1 / (2 * beta), 2);
        };
    }

    /** Σ weight · pair loss, weights summing to the batch's prompts (every prompt weighs the same). */
    static NDArray weightedSum(NDArray pairLosses, float[] weights) {
        return pairLosses.mul(EngineArrays.of(pairLosses.getManager(), weights, new Shape(weights.length))).sum();
    }
}
