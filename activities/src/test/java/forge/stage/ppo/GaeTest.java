package forge.stage.ppo;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class GaeTest {
    @Test
    void advantagesFollowTheRecursionAndStayInsideEachResponse() {
        // One row of width 4 whose actions are positions 1..2; values 0.5 and 0.25, reward 1 at the end.
        float[] rewards = {9, 0, 1, 9};
        float[] values = {9, 0.5f, 0.25f, 9};
        Gae.Result r = Gae.compute(rewards, values, 1, 4, new int[] {1}, new int[] {3}, 1.0, 0.5);
        // δ2 = 1 + 0 − 0.25 = 0.75 = A2; δ1 = 0 + 0.25 − 0.5 = −0.25, A1 = −0.25 + 0.5·0.75 = 0.125
        assertArrayEquals(new float[] {0, 0.125f, 0.75f, 0}, r.advantages(), 1e-6f);
        assertArrayEquals(new float[] {0, 0.625f, 1.0f, 0}, r.returns(), 1e-6f);
    }

    @Test
    void lambdaOneGivesMonteCarloReturnsAndGammaDiscounts() {
        float[] rewards = {0, 0, 2};
        float[] values = {0.3f, -0.1f, 0.7f};
        Gae.Result r = Gae.compute(rewards, values, 1, 3, new int[] {0}, new int[] {3}, 0.5, 1.0);
        assertArrayEquals(new float[] {0.5f, 1.0f, 2.0f}, r.returns(), 1e-6f);
    }

    @Test
    void whiteningUsesOnlyMaskedPositions() {
        float[] adv = {1, 3, 100, 5};
        float[] mask = {1, 1, 0, 1};
        Gae.whiten(adv, mask);
        assertEquals(0, adv[2]);
        assertEquals(0, adv[0] + adv[1] + adv[3], 1e-6);
        double var = (adv[0] * adv[0] + adv[1] * adv[1] + adv[3] * adv[3]) / 2;
        assertEquals(1, var, 1e-4);
    }
}
