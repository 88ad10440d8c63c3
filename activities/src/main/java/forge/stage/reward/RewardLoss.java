package forge.stage.reward;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import forge.preference.PreferenceBatch;
import forge.tensor.EngineArrays;

/** The reward model's pairwise loss alone, so that it is checked against values computed by hand. */
final class RewardLoss {
    private RewardLoss() {}

    /**
     * Σ over pairs of weight · −log σ(r_chosen − r_rejected − margin), from the (rows,) rewards of a batch; the
     * weights sum to the batch's prompts.
     */
    static NDArray pairLossSum(NDManager manager, NDArray rewards, PreferenceBatch b) {
        Shape p = new Shape(b.pairs());
        NDArray diff = rewards.gather(indices(manager, b.chosenRow(), p), 0)
                .sub(rewards.gather(indices(manager, b.rejectedRow(), p), 0))
                .sub(EngineArrays.of(manager, b.margin(), p));                                   // (P,)
        return Activation.softPlus(diff.neg()).mul(EngineArrays.of(manager, b.pairWeights(), p)).sum();
    }

    /** A libtorch-owned index array: gather's backward reads it after this step's arrays are closed. */
    static NDArray indices(NDManager manager, int[] values, Shape shape) {
        long[] longs = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            longs[i] = values[i];
        }
        return EngineArrays.owned(manager.create(longs, shape));
    }
}
