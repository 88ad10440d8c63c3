package forge.stage.ppo;

import ai.djl.ndarray.NDManager;
import forge.rollout.RolloutBatch;
import org.junit.jupiter.api.Test;

import java.util.List;

import static forge.rollout.PolicyGradientTest.a;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** PPO's shaped rewards, policy loss and clipped value loss against values worked out by hand. */
class PpoLossTest {
    @Test
    void klPenaltyOnEveryReplyTokenAndTheScoreOnTheLast() {
        // Prompt of 2 tokens, reply of 2 (9 is <|end|>): actions 1 and 2 are the reply's.
        RolloutBatch b = RolloutBatch.of(List.of(new int[] {5, 6, 7, 9}), new int[] {2}, 9);
        double[] kl = new double[1];
        float[] r = PpoLoss.shapedRewards(b, new float[] {0f, -1f, -2f}, new float[] {0f, -1.5f, -1f},
                new double[] {2.0}, 0.1, kl);
        // log π − log π_ref = 0.5, −1: rewards −0.05 and +0.1 + the score 2.
        assertArrayEquals(new float[] {0f, -0.05f, 2.1f}, r, 1e-6f);
        assertEquals(-0.5, kl[0], 1e-6);
    }

    @Test
    void policyLossIsTheMaskedMeanOfTheClippedSurrogate() {
        try (NDManager m = NDManager.newBaseManager()) {
            var ratio = a(m, 1.2214028f, 0.6065307f, 1f);
            // Per action −1.2, 0.8, −2 (see PolicyGradientTest); the middle one is masked out.
            float loss = PpoLoss.policy(ratio, a(m, 1f, -1f, 2f), a(m, 1f, 0f, 1f), 0.2, 2).getFloat();
            assertEquals(-1.6f, loss, 1e-6f);
        }
    }

    @Test
    void valueLossTakesTheWorseOfClippedAndUnclipped() {
        try (NDManager m = NDManager.newBaseManager()) {
            // V = 1 moved 0.5 from V_old = 0.5 toward R = 2: clipped to 0.7, (0.7 − 2)² = 1.69 > (1 − 2)² = 1.
            // V = V_old = 0.5, R = 0: 0.25 either way. ½ · (1.69 + 0.25) / 2.
            float loss = PpoLoss.value(a(m, 1f, 0.5f), a(m, 0.5f, 0.5f), a(m, 2f, 0f), a(m, 1f, 1f), 0.2, 2)
                    .getFloat();
            assertEquals(0.485f, loss, 1e-6f);
        }
    }
}
