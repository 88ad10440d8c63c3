package forge.bench;

import forge.errors.BadInputException;
import forge.model.GptConfig;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code ./forge bench generation} on a model small enough for the test suite. */
class GenerationBenchTest {
    private static final GenerationBench.Model TINY =
            new GenerationBench.Model("tiny", new GptConfig(64, 48, 2, 2, 16, 0.0, true));

    @Test
    void measuresEveryBatchSizeAndComparesGreedyTokens() {
        List<String> progress = new ArrayList<>();
        GenerationBench.Result r = GenerationBench.run(List.of(TINY),
                new GenerationBench.Settings(4, 24, List.of(1, 3), 5, 4, true), progress::add);
        assertEquals(2, r.rows().size());
        for (GenerationBench.Row row : r.rows()) {
            assertEquals(row.batch() * 24L, row.newTokens());
            assertTrue(row.cachedSeconds() > 0 && row.uncachedSeconds() > 0, row.toString());
            assertTrue(row.sampledIdentical(), "the same seed samples the same tokens with or without the cache");
        }
        assertEquals(1, r.checks().size());
        assertTrue(r.checks().get(0).identical(), r.checks().toString());
        assertEquals(3, r.checks().get(0).batch());
        String table = r.markdown();
        assertTrue(table.contains("| tiny | 1 |") && table.contains("| tiny | 3 |"), table);
        assertTrue(table.contains("cached and uncached tokens identical"), table);
        assertTrue(progress.stream().anyMatch(p -> p.contains("warm-up")), progress.toString());
    }

    @Test
    void promptsAreOrdinaryTokensAndTheSameForTheSameSeed() {
        int[][] a = GenerationBench.prompts(TINY.config(), 4, 16, 1);
        assertEquals(4, a.length);
        assertTrue(java.util.Arrays.deepEquals(a, GenerationBench.prompts(TINY.config(), 4, 16, 1)));
        for (int[] row : a) {
            assertEquals(16, row.length);
            for (int t : row) {
                assertTrue(t >= 7 && t < 64, "no special tokens: " + t);
            }
        }
    }

    @Test
    void aRunThatDoesNotFitTheContextIsRefused() {
        BadInputException e = assertThrows(BadInputException.class, () -> GenerationBench.run(List.of(TINY),
                new GenerationBench.Settings(16, 40, List.of(1), 1, 0, false), s -> { }));
        assertTrue(e.getMessage().contains("do not fit its context of 48"), e.getMessage());
        assertThrows(BadInputException.class, () -> new GenerationBench.Settings(16, 0, List.of(1), 1, 0, false));
        assertThrows(BadInputException.class, () -> new GenerationBench.Settings(16, 8, List.of(0), 1, 0, false));
    }
}
