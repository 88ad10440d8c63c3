package forge.stage.reward;

import ai.djl.ndarray.NDManager;
import forge.preference.PreferenceBatch;
import org.junit.jupiter.api.Test;

import static forge.rollout.PolicyGradientTest.a;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The reward model's pairwise loss against values worked out by hand. */
class RewardLossTest {
    @Test
    void everyPromptWeighsTheSameAndMarginsRaiseTheBar() {
        // Prompt 0 ranks rows 0 > 1 > 2 (three pairs, ⅓ each); prompt 1 compares row 3 over row 4 with margin 1.
        PreferenceBatch b = new PreferenceBatch(5, 2, new long[10], new int[] {1, 1, 1, 1, 1}, new int[] {1, 1, 1, 1, 1},
                new int[] {0, 0, 1, 3}, new int[] {1, 2, 2, 4}, new float[] {0, 0, 0, 1}, new int[] {0, 0, 0, 1}, 2);
        try (NDManager m = NDManager.newBaseManager()) {
            float loss = RewardLoss.pairLossSum(m, a(m, 2f, 1f, 0f, 1f, 1f), b).getFloat();
            // −log σ(d) = log(1 + e^−d): d = 1, 2, 1 for prompt 0; d = 1 − 1 − 1 = −1 for prompt 1.
            double expected = (2 * Math.log1p(Math.exp(-1)) + Math.log1p(Math.exp(-2))) / 3 + Math.log1p(Math.exp(1));
            assertEquals(expected, loss, 1e-6);
        }
    }
}
