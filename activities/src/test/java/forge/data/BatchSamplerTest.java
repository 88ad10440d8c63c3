package forge.data;

import forge.errors.BadInputException;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.tokenizer.TokenizerConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BatchSamplerTest {
    private static final Tokenizer CHARS = Tokenizer.train(TokenizerConfig.charLevel(), List.of("abcxyz"));
    private static final int A = CHARS.encode("a")[0];
    private static final int B = CHARS.encode("b")[0];
    private static final int X = CHARS.encode("x")[0];
    private static final int EOT = SpecialToken.END_OF_TEXT.id();

    /** Source 0 is all a's then b's, source 1 all x's: every token tells which source and split it came from. */
    private static TokenizedCorpus corpus(double w0, double w1) {
        List<List<String>> docs = List.of(List.of("a".repeat(900) + "b".repeat(99)), List.of("x".repeat(2000)));
        return new TokenizedCorpus(docs, List.of(new SourceSpec("ab.txt", w0, null, null),
                new SourceSpec("x.txt", w1, null, null)), CHARS, 0.1);
    }

    @Test
    void documentsAreJoinedByEndOfTextAndSplitTrainThenValidation() {
        TokenizedCorpus c = new TokenizedCorpus(List.of(List.of("ab", "c")), List.of(SourceSpec.of("s")), CHARS, 0.4);
        int[] stream = new int[5];
        for (int i = 0; i < 5; i++) {
            stream[i] = c.token(0, i);
        }
        assertEquals(List.of(A, B, EOT, CHARS.encode("c")[0], EOT), java.util.Arrays.stream(stream).boxed().toList());
        assertEquals(3, c.trainTokens(0));
        assertEquals(2, c.validationTokens(0));
        TokenizedCorpus big = corpus(3, 1);
        assertEquals(900, big.trainTokens(0)); // 1000 tokens with the end-of-text
        assertEquals(0.75, big.weight(0), 1e-12);
        assertEquals(0.25, big.weight(1), 1e-12);
    }

    @Test
    void aTrainingBatchIsAPureFunctionOfSeedStepAndMicroBatch() {
        BatchSampler one = new BatchSampler(corpus(1, 1), 16, 42);
        BatchSampler other = new BatchSampler(corpus(1, 1), 16, 42);
        for (long step : new long[] {0, 1, 999, 123_456_789}) {
            for (int micro = 0; micro < 3; micro++) {
                assertEquals(one.train(step, micro, 8), other.train(step, micro, 8));
            }
        }
        assertNotEquals(one.train(5, 0, 8), one.train(6, 0, 8));
        assertNotEquals(one.train(5, 0, 8), one.train(5, 1, 8));
        assertNotEquals(one.train(5, 0, 8), new BatchSampler(corpus(1, 1), 16, 43).train(5, 0, 8));
    }

    @Test
    void targetsAreInputsShiftedByOne() {
        TokenizedCorpus c = new TokenizedCorpus(List.of(new forge.demo.DemoWorld(1).pretrainDocuments(50)),
                List.of(SourceSpec.of("demo")), Tokenizer.train(TokenizerConfig.charLevel(),
                new forge.demo.DemoWorld(1).pretrainDocuments(50)), 0.1);
        Batch b = new BatchSampler(c, 32, 1).train(3, 0, 4);
        assertEquals(4 * 32, b.inputs().length);
        for (int row = 0; row < 4; row++) {
            for (int t = 0; t + 1 < 32; t++) {
                assertEquals(b.inputs()[row * 32 + t + 1], b.targets()[row * 32 + t]);
            }
        }
    }

    @Test
    void sourcesAreDrawnInProportionToTheirWeights() {
        BatchSampler s = new BatchSampler(corpus(3, 1), 8, 7);
        int fromFirst = 0;
        int rows = 0;
        for (long step = 0; step < 500; step++) {
            Batch b = s.train(step, 0, 16);
            for (int row = 0; row < 16; row++, rows++) {
                fromFirst += b.inputs()[row * 8] != X ? 1 : 0;
            }
        }
        double share = fromFirst / (double) rows;
        assertEquals(0.75, share, 0.02, "share of rows from the weight-3 source");
    }

    @Test
    void validationWindowsComeOnlyFromTheValidationSplitAndNeverChange() {
        TokenizedCorpus c = corpus(1, 1);
        BatchSampler s = new BatchSampler(c, 8, 7);
        List<Batch> val = s.validation(20, 8);
        assertEquals(val, new BatchSampler(c, 8, 7).validation(20, 8));
        assertEquals(val, s.validation(20, 8));
        for (Batch b : val) {
            for (long t : b.inputs()) {
                assertTrue(t != A, "an 'a' is training text");
            }
        }
        // Source 1's validation split is its last 200 x's; check through the per-source view.
        int vStart = c.trainTokens(1);
        assertEquals(X, c.token(1, vStart));
        for (Batch b : s.validation(0, 5, 4)) {
            for (long t : b.inputs()) {
                assertTrue(t == B || t == EOT, "source 0 validation holds only b's and the end-of-text");
            }
        }
        for (long step = 0; step < 200; step++) {
            Batch b = s.train(step, 0, 4);
            for (long t : b.targets()) {
                assertTrue(t == A || t == X, "training windows stay inside the training split");
            }
        }
    }

    @Test
    void aSplitShorterThanABlockNamesItsSource() {
        TokenizedCorpus c = new TokenizedCorpus(List.of(List.of("a".repeat(1000)), List.of("x".repeat(50))),
                List.of(SourceSpec.of("big.txt"), SourceSpec.of("tiny.txt")), CHARS, 0.1);
        BadInputException e = assertThrows(BadInputException.class, () -> new BatchSampler(c, 64, 1));
        assertTrue(e.getMessage().startsWith("data.sources[1]: tiny.txt has 45 training tokens, fewer than "
                + "block_size + 1 = 65"), e.getMessage());
        BadInputException v = assertThrows(BadInputException.class, () -> new BatchSampler(c, 10, 1));
        assertTrue(v.getMessage().startsWith("data.sources[1]: tiny.txt has 6 validation tokens"), v.getMessage());
        assertThrows(BadInputException.class, () -> new TokenizedCorpus(List.of(List.of("abc")),
                List.of(SourceSpec.of("s")), CHARS, 1.0));
    }

    @Test
    void unigramBaselineIsTheEntropyOfTheTrainingTokens() {
        TokenizedCorpus c = corpus(1, 1);
        // Source 0's training split is 900 a's, source 1's 1800 x's: two tokens, equally weighted, ln 2.
        assertEquals(Math.log(2), c.unigramEntropyNats(), 1e-9);
        assertEquals(Math.log(2), CorpusStats.unigramEntropyNats(List.of("ab", "ba")), 1e-12);
    }
}
