package forge.stage.sft;

import forge.chat.ChatEncoder;
import forge.chat.Conversation;
import forge.chat.EncodedExample;
import forge.data.SourceSpec;
import forge.errors.BadInputException;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.tokenizer.TokenizerConfig;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SftBatchSamplerTest {
    static final int BLOCK = 160;
    static final List<EncodedExample> EXAMPLES = demoExamples(24);

    static List<EncodedExample> demoExamples(int n) {
        List<Conversation> cs = SftDocuments.read(SourceSpec.of("demo:sft?seed=7&count=" + n), 0, null);
        List<String> texts = new ArrayList<>();
        cs.forEach(c -> c.turns().forEach(t -> texts.add(t.content())));
        Tokenizer tok = Tokenizer.train(TokenizerConfig.charLevel(), texts);
        ChatEncoder.Encoded enc = new ChatEncoder(tok, BLOCK, null).encodeAll(cs, "demo");
        assertEquals(n, enc.examples().size());
        assertEquals(0, enc.truncated());
        return enc.examples();
    }

    @Test
    void batchesArePureFunctionsOfSeedStepAndMicro() {
        SftBatchSampler s1 = new SftBatchSampler(EXAMPLES, BLOCK, 42, false);
        SftBatchSampler s2 = new SftBatchSampler(new ArrayList<>(EXAMPLES), BLOCK, 42, false);
        // Out of order on the second instance: no hidden cursor.
        SftBatch b9 = s2.train(9, 1, 2, 4);
        SftBatch b0 = s2.train(0, 0, 2, 4);
        assertEquals(s1.train(0, 0, 2, 4), b0);
        assertEquals(s1.train(9, 1, 2, 4), b9);
        assertNotEquals(s1.train(1, 0, 2, 4), s1.train(2, 0, 2, 4));
        assertNotEquals(s1.train(1, 0, 2, 4), s1.train(1, 1, 2, 4));
        assertNotEquals(s1.train(0, 0, 2, 4), new SftBatchSampler(EXAMPLES, BLOCK, 43, false).train(0, 0, 2, 4));
    }

    @Test
    void rowsAreOneExampleShiftedByOneThenPaddingWithWeightZero() {
        SftBatch b = new SftBatchSampler(EXAMPLES, BLOCK, 1, false).train(3, 0, 1, 6);
        for (int r = 0; r < b.batchSize(); r++) {
            EncodedExample e = exampleOfRow(b, r);
            int n = e.positions();
            for (int t = 0; t < BLOCK; t++) {
                int i = r * BLOCK + t;
                if (t < n) {
                    assertEquals(e.tokens()[t], b.inputs()[i]);
                    assertEquals(e.tokens()[t + 1], b.targets()[i]);
                    assertEquals(e.lossMask()[t + 1], b.weights()[i]);
                    assertEquals(1, b.segmentIds()[i]);
                    assertEquals(t, b.positions()[i]);
                } else {
                    assertEquals(SpecialToken.PAD.id(), b.inputs()[i]);
                    assertEquals(SpecialToken.PAD.id(), b.targets()[i]);
                    assertEquals(0f, b.weights()[i]);
                    assertEquals(0, b.segmentIds()[i]);
                }
            }
        }
        assertTrue(b.weightSum() > 0);
        SftBatch narrow = b.narrowed(b.usedWidth());
        assertEquals(b.weightSum(), narrow.weightSum());
        assertTrue(narrow.blockSize() < BLOCK);
        assertThrows(IllegalArgumentException.class, () -> b.narrowed(b.usedWidth() - 1));
    }

    @Test
    void everyExampleOncePerEpoch() {
        SftBatchSampler s = new SftBatchSampler(EXAMPLES, BLOCK, 5, false);
        assertEquals(24, s.rowsPerEpoch());
        for (int epoch = 0; epoch < 2; epoch++) {
            Map<EncodedExample, Integer> seen = new HashMap<>();
            for (int step = epoch * 3; step < epoch * 3 + 3; step++) {
                for (int micro = 0; micro < 2; micro++) {
                    SftBatch b = s.train(step, micro, 2, 4);
                    for (int r = 0; r < 4; r++) {
                        seen.merge(exampleOfRow(b, r), 1, Integer::sum);
                    }
                }
            }
            assertEquals(24, seen.size());
            assertTrue(seen.values().stream().allMatch(c -> c == 1));
        }
        assertEquals(1.0, s.epochs(3, 2, 4), 1e-12);
    }

    @Test
    void packedRowsKeepExamplesApartAndCoverEachOncePerEpoch() {
        SftBatchSampler s = new SftBatchSampler(EXAMPLES, BLOCK, 5, true);
        assertTrue(s.rowsPerEpoch() < EXAMPLES.size(), "rows: " + s.rowsPerEpoch());
        List<SftBatch> all = s.sequential(5);
        Map<EncodedExample, Integer> seen = new HashMap<>();
        for (SftBatch b : all) {
            for (int r = 0; r < b.batchSize(); r++) {
                int base = r * BLOCK;
                int t = 0;
                int seg = 1;
                while (t < BLOCK && b.segmentIds()[base + t] == seg) {
                    int start = t;
                    while (t < BLOCK && b.segmentIds()[base + t] == seg) {
                        assertEquals(t - start, b.positions()[base + t]);
                        t++;
                    }
                    int[] tokens = new int[t - start + 1];
                    float[] mask = new float[tokens.length];
                    for (int k = start; k < t; k++) {
                        tokens[k - start] = (int) b.inputs()[base + k];
                        tokens[k - start + 1] = (int) b.targets()[base + k];
                        mask[k - start + 1] = b.weights()[base + k];
                    }
                    EncodedExample e = new EncodedExample(tokens, mask);
                    assertTrue(EXAMPLES.contains(e), "segment " + seg + " of a row is not a whole example");
                    seen.merge(e, 1, Integer::sum);
                    seg++;
                }
                for (; t < BLOCK; t++) {
                    assertEquals(0, b.segmentIds()[base + t]);
                    assertEquals(0f, b.weights()[base + t]);
                }
            }
        }
        assertEquals(EXAMPLES.size(), seen.size());
        assertTrue(seen.values().stream().allMatch(c -> c == 1));
        assertEquals(s.train(4, 0, 1, 3), new SftBatchSampler(EXAMPLES, BLOCK, 5, true).train(4, 0, 1, 3));
    }

    @Test
    void sequentialCoversEveryRowOnceAndPadsTheLastBatch() {
        SftBatchSampler s = new SftBatchSampler(EXAMPLES.subList(0, 10), BLOCK, 5, false);
        List<SftBatch> batches = s.sequential(4);
        assertEquals(3, batches.size());
        SftBatch last = batches.get(2);
        for (int i = 2 * BLOCK; i < 4 * BLOCK; i++) {
            assertEquals(0f, last.weights()[i]);
            assertEquals(SpecialToken.PAD.id(), last.inputs()[i]);
        }
        double total = batches.stream().mapToDouble(SftBatch::weightSum).sum();
        assertEquals(EXAMPLES.subList(0, 10).stream().mapToInt(EncodedExample::weightedTargets).sum(), total);
    }

    @Test
    void rejectsEmptyOrOverlongInput() {
        assertThrows(BadInputException.class, () -> new SftBatchSampler(List.of(), BLOCK, 1, false));
        assertThrows(IllegalArgumentException.class, () -> new SftBatchSampler(EXAMPLES, 20, 1, false));
        SftBatchSampler s = new SftBatchSampler(EXAMPLES, BLOCK, 1, false);
        assertThrows(IllegalArgumentException.class, () -> s.train(0, 2, 2, 4));
    }

    private static EncodedExample exampleOfRow(SftBatch b, int r) {
        int base = r * b.blockSize();
        int n = 0;
        while (n < b.blockSize() && b.segmentIds()[base + n] == 1) {
            n++;
        }
        int[] tokens = new int[n + 1];
        float[] mask = new float[n + 1];
        for (int t = 0; t < n; t++) {
            tokens[t] = (int) b.inputs()[base + t];
            tokens[t + 1] = (int) b.targets()[base + t];
            mask[t + 1] = b.weights()[base + t];
        }
        EncodedExample e = new EncodedExample(tokens, mask);
        assertTrue(EXAMPLES.contains(e), "row " + r + " is not an example: " + Arrays.toString(tokens));
        return e;
    }
}
