package forge.stage.dpo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import forge.preference.PreferenceBatch;
import forge.tensor.EngineArrays;
import forge.tokenizer.SpecialToken;
import org.junit.jupiter.api.Test;

import static forge.rollout.PolicyGradientTest.a;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** DPO's pieces against values worked out by hand. */
class DpoLossTest {
    @Test
    void onlyTheReplyTokensAreScored() {
        long u = SpecialToken.USER.id();
        long e = SpecialToken.END_OF_TURN.id();
        long as = SpecialToken.ASSISTANT.id();
        long pad = SpecialToken.PAD.id();
        // <|user|> 7 <|end|> <|assistant|> 8 <|end|>   and   <|user|> 7 <|end|> <|assistant|> <|end|> PAD
        PreferenceBatch b = new PreferenceBatch(2, 6, new long[] {u, 7, e, as, 8, e, u, 7, e, as, e, pad},
                new int[] {5, 4}, new int[] {4, 4}, new int[] {0}, new int[] {1}, new float[] {0}, new int[] {0}, 1);
        // Action j predicts token j + 1: the reply "8 <|end|>" is actions 3, 4; the empty reply's <|end|> action 3.
        assertArrayEquals(new float[] {0, 0, 0, 1, 1, 0, 0, 0, 1, 0}, DpoLoss.replyMask(b));
    }

    @Test
    void sequenceLogProbsSumOrAverageOverTheMask() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray logits = m.zeros(new Shape(1, 3, 2));            // two-token vocabulary, uniform: log ½ each
            NDArray ids = EngineArrays.owned(m.create(new long[] {0, 1, 0}, new Shape(1, 3)));
            NDArray mask = EngineArrays.of(m, new float[] {1, 1}, new Shape(1, 2));
            assertEquals(2 * Math.log(0.5), DpoLoss.sequenceLogProbs(logits, ids, mask, false).getFloat(), 1e-6);
            assertEquals(Math.log(0.5), DpoLoss.sequenceLogProbs(logits, ids, mask, true).getFloat(), 1e-6);
        }
    }

    @Test
    void marginsAndBothLosses() {
        try (NDManager m = NDManager.newBaseManager()) {
            // log π − log π_ref: chosen +1, rejected −1, so h = 2.
            NDArray h = DpoLoss.logRatioMargins(a(m, -1f, -3f), a(m, -2f, -2f),
                    EngineArrays.owned(m.create(new long[] {0}, new Shape(1))),
                    EngineArrays.owned(m.create(new long[] {1}, new Shape(1))));
            assertArrayEquals(new float[] {2f}, h.toFloatArray(), 1e-6f);
            // Sigmoid: −log σ(0.5 · 2) = log(1 + e^−1).
            double sigmoid = Math.log(1 + Math.exp(-1));
            assertEquals(sigmoid, DpoLoss.pairLosses(h, 0.5, DpoLoss.Kind.SIGMOID).getFloat(), 1e-6);
            assertEquals(sigmoid, DpoLoss.pairLoss(2, 0.5, DpoLoss.Kind.SIGMOID), 1e-12);
            // At the start (h = 0) every pair costs log 2.
            assertEquals(Math.log(2), DpoLoss.pairLoss(0, 0.1, DpoLoss.Kind.SIGMOID), 1e-12);
            // IPO: (h − 1/(2β))² = (2 − 1)², and 0 at its target margin.
            assertEquals(1.0, DpoLoss.pairLosses(h, 0.5, DpoLoss.Kind.IPO).getFloat(), 1e-6);
            assertEquals(0.0, DpoLoss.pairLoss(5, 0.1, DpoLoss.Kind.IPO), 1e-12);
            // Two pairs of one prompt weigh ½ each.
            assertEquals(0.5 * (1 + 4), DpoLoss.weightedSum(a(m, 1f, 4f), new float[] {0.5f, 0.5f}).getFloat(),
                    1e-6);
        }
    }
}
