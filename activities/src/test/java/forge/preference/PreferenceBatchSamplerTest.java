package forge.preference;

import forge.chat.TruncationPolicy;
import forge.chat.Turn;
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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PreferenceBatchSamplerTest {
    static final int BLOCK = 24;
    static final int PAD = SpecialToken.PAD.id();
    static final int END = SpecialToken.END_OF_TURN.id();

    /** Mixed groups: comparisons and ranked lists of 3, over a char tokenizer. */
    static List<EncodedGroup> groups(int n) {
        Tokenizer tok = Tokenizer.train(TokenizerConfig.charLevel(), List.of("abcdefghij0123456789 "));
        List<PreferenceGroup> g = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            g.add(i % 2 == 0
                    ? PreferenceGroup.comparison("q " + i, "good " + i, "bad", i % 4 == 0 ? 0.5 : 0)
                    : PreferenceGroup.ranked(List.of(Turn.user("q " + i)), List.of("a" + i, "b", "c c c " + i)));
        }
        return new PreferenceEncoder(tok, BLOCK, TruncationPolicy.FAIL).encodeAll(g, "test").groups();
    }

    private static long[] row(PreferenceBatch b, int r) {
        return Arrays.copyOfRange(b.sequences(), r * b.blockSize(), (r + 1) * b.blockSize());
    }

    /** The unpadded ids of a row, which must be one of the groups' sequences. */
    private static List<Integer> content(PreferenceBatch b, int r) {
        List<Integer> out = new ArrayList<>();
        long[] ids = row(b, r);
        for (int t = 0; t <= b.lastIndex()[r]; t++) {
            out.add((int) ids[t]);
        }
        for (int t = b.lastIndex()[r] + 1; t < b.blockSize(); t++) {
            assertEquals(PAD, ids[t], "padding after the last index");
        }
        return out;
    }

    private static List<Integer> list(int[] a) {
        return Arrays.stream(a).boxed().toList();
    }

    @Test
    void batchesArePureFunctionsOfSeedStepAndMicro() {
        List<EncodedGroup> gs = groups(10);
        PreferenceBatchSampler one = new PreferenceBatchSampler(gs, BLOCK, 42);
        PreferenceBatchSampler two = new PreferenceBatchSampler(groups(10), BLOCK, 42);
        for (long step : new long[] {0, 1, 7, 1000}) {
            for (int micro = 0; micro < 2; micro++) {
                assertEquals(one.train(step, micro, 2, 3), two.train(step, micro, 2, 3));
            }
        }
        // Asking in a different order (a resumed run) gives the same batch.
        PreferenceBatch late = one.train(1000, 1, 2, 3);
        one.train(0, 0, 2, 3);
        assertEquals(late, one.train(1000, 1, 2, 3));
        assertNotEquals(one.train(5, 0, 2, 3), new PreferenceBatchSampler(gs, BLOCK, 43).train(5, 0, 2, 3));
        assertEquals(0.6, one.epochs(1, 2, 3), 1e-9);
    }

    @Test
    void everyGroupIsSeenOncePerEpochAndPairsPointAtTheirRows() {
        List<EncodedGroup> gs = groups(12);
        Map<List<Integer>, EncodedGroup> byFirst = new HashMap<>();
        gs.forEach(g -> byFirst.put(list(g.sequences().get(0)), g));
        PreferenceBatchSampler s = new PreferenceBatchSampler(gs, BLOCK, 9);
        List<EncodedGroup> epoch = new ArrayList<>();
        for (int step = 0; step < 2; step++) {
            for (int micro = 0; micro < 2; micro++) {
                PreferenceBatch b = s.train(step, micro, 2, 3);
                assertEquals(3, b.groups());
                int row = 0;
                int pair = 0;
                for (int gi = 0; gi < b.groups(); gi++) {
                    EncodedGroup g = byFirst.get(content(b, row));
                    epoch.add(g);
                    for (int j = 0; j < g.sequences().size(); j++) {
                        assertEquals(list(g.sequences().get(j)), content(b, row + j));
                        assertEquals(END, row(b, row + j)[b.lastIndex()[row + j]], "lastIndex is the <|end|>");
                    }
                    for (PreferenceGroup.Pair p : g.pairs()) {
                        assertEquals(row + p.chosen(), b.chosenRow()[pair]);
                        assertEquals(row + p.rejected(), b.rejectedRow()[pair]);
                        assertEquals((float) p.margin(), b.margin()[pair]);
                        assertEquals(gi, b.pairGroup()[pair]);
                        pair++;
                    }
                    row += g.sequences().size();
                }
                assertEquals(b.rows(), row, "each response is one row, once");
                assertEquals(b.pairs(), pair);
                float sum = 0;
                for (float w : b.pairWeights()) {
                    sum += w;
                }
                assertEquals(3f, sum, 1e-5, "every group weighs 1");
            }
        }
        assertEquals(new java.util.HashSet<>(gs), new java.util.HashSet<>(epoch), "one epoch visits every group");
        assertEquals(12, epoch.size());
    }

    @Test
    void rankedGroupsKeepAllTheirPairsTogether() {
        List<PreferenceGroup> ranked = PreferenceDocuments.read(SourceSpec.of("demo:ranked?seed=7&count=8&k=4"), 0,
                null).groups();
        Tokenizer tok = Tokenizer.train(TokenizerConfig.charLevel(), List.of("abcdefghijklmnopqrstuvwxyz"));
        List<EncodedGroup> enc = new PreferenceEncoder(tok, 512, null).encodeAll(ranked, "demo").groups();
        PreferenceBatch b = new PreferenceBatchSampler(enc, 512, 1).train(0, 0, 1, 2);
        assertEquals(8, b.rows());
        assertEquals(12, b.pairs());
        for (int p = 0; p < b.pairs(); p++) {
            assertTrue(b.chosenRow()[p] < b.rejectedRow()[p]);
            assertEquals(b.chosenRow()[p] / 4, b.rejectedRow()[p] / 4, "both rows of a pair are in its group");
            assertEquals(1f / 6, b.pairWeights()[p], 1e-6);
        }
    }

    @Test
    void narrowedCutsOnlyPadding() {
        PreferenceBatch b = new PreferenceBatchSampler(groups(6), BLOCK, 1).train(0, 0, 1, 4);
        int used = b.usedWidth();
        assertTrue(used < BLOCK, "the test data leaves padding to cut");
        PreferenceBatch n = b.narrowed(used);
        assertEquals(used, n.blockSize());
        for (int r = 0; r < b.rows(); r++) {
            assertArrayEquals(Arrays.copyOf(row(b, r), used), row(n, r));
            assertEquals(content(b, r), content(n, r));
        }
        assertArrayEquals(b.lastIndex(), n.lastIndex());
        assertArrayEquals(b.chosenRow(), n.chosenRow());
        assertArrayEquals(b.rejectedRow(), n.rejectedRow());
        assertEquals(used, n.usedWidth());
        assertEquals(b, b.narrowed(BLOCK));
        assertThrows(IllegalArgumentException.class, () -> b.narrowed(used - 1));
    }

    @Test
    void sequentialVisitsEveryGroupOnceInOrder() {
        List<EncodedGroup> gs = groups(7);
        List<PreferenceBatch> batches = new PreferenceBatchSampler(gs, BLOCK, 1).sequential(3);
        assertEquals(List.of(3, 3, 1), batches.stream().map(PreferenceBatch::groups).toList());
        int total = 0;
        for (EncodedGroup g : gs) {
            total += g.pairs().size();
        }
        assertEquals(total, batches.stream().mapToInt(PreferenceBatch::pairs).sum());
        assertEquals(list(gs.get(6).sequences().get(0)), content(batches.get(2), 0));
    }

    @Test
    void rejectsEmptyDataAndUnencodedGroups() {
        String m = assertThrows(BadInputException.class, () -> new PreferenceBatchSampler(List.of(), BLOCK, 1))
                .getMessage();
        assertTrue(m.contains("no preference groups"), m);
        assertThrows(IllegalArgumentException.class, () -> new PreferenceBatchSampler(groups(2), 5, 1));
        assertThrows(IllegalArgumentException.class, () -> new PreferenceBatchSampler(groups(2), BLOCK, 1)
                .train(0, 1, 1, 2));
    }
}
