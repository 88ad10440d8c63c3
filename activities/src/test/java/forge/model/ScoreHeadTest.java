package forge.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import forge.tensor.HostTensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scalar head a reward model or value function reads: score.weight over the final hidden states. */
class ScoreHeadTest {
    static final long[][] PROBE = LoraTest.PROBE;

    @Test
    void scoresAreTheHeadOverTheHiddenStatesAndTrainTheTrunk() {
        try (NDManager m = NDManager.newBaseManager(); Gpt g = Gpt.create(m, GptTest.TINY, 3)) {
            assertThrows(IllegalStateException.class, () -> g.scores(GptTest.tokens(m, PROBE), false));
            g.addScoreHead(4);
            assertTrue(g.hasScoreHead());
            float[] scores;
            float[] hidden;
            float[] w = g.snapshot().get("score.weight").toFloatArray();
            try (NDScope scope = new NDScope()) {
                scores = g.scores(GptTest.tokens(m, PROBE), false).toFloatArray();              // (B, T)
                hidden = g.hidden(GptTest.tokens(m, PROBE), false).toFloatArray();              // (B, T, C)
            }
            int c = GptTest.TINY.nEmbd();
            assertEquals(PROBE.length * PROBE[0].length, scores.length);
            for (int i = 0; i < scores.length; i++) {
                double dot = 0;
                for (int k = 0; k < c; k++) {
                    dot += hidden[i * c + k] * w[k];
                }
                assertEquals(dot, scores[i], 1e-5);
            }
            try (NDScope scope = new NDScope(); GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray s = g.scores(GptTest.tokens(m, PROBE), true);
                gc.backward(s.sum());
                assertTrue(g.trainableParameters().containsKey("score.weight"));
                assertFalse(allZero(g.trainableParameters().get("score.weight").getGradient().toFloatArray()));
                assertFalse(allZero(g.trainableParameters().get("h.0.attn.c_attn.weight").getGradient().toFloatArray()));
            }
            assertEquals(java.util.List.of("GPT2ForSequenceClassification"), g.huggingFaceConfig().get("architectures"));
        }
    }

    @Test
    void theHeadIsPartOfTheStateAndLoadsBack() {
        try (NDManager m = NDManager.newBaseManager();
             Gpt a = Gpt.create(m, GptTest.TINY, 3);
             Gpt b = Gpt.create(m, GptTest.TINY, 9);
             Gpt plain = Gpt.create(m, GptTest.TINY, 9)) {
            a.addScoreHead(4);
            b.addScoreHead(5);
            Map<String, HostTensor> saved = a.snapshot();
            assertTrue(saved.containsKey("score.weight"));
            b.load(saved);
            try (NDScope scope = new NDScope()) {
                assertArrayEquals(a.scores(GptTest.tokens(m, PROBE), false).toFloatArray(),
                        b.scores(GptTest.tokens(m, PROBE), false).toFloatArray());
            }
            var e = assertThrows(forge.errors.BadInputException.class, () -> plain.load(saved));
            assertTrue(e.getMessage().contains("score.weight"), e.getMessage());
        }
    }

    private static boolean allZero(float[] v) {
        for (float x : v) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }
}
