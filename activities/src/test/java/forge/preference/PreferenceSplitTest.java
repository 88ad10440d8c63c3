package forge.preference;

import forge.chat.Turn;
import forge.data.SourceSpec;
import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PreferenceSplitTest {
    private static Set<List<Turn>> prompts(List<PreferenceGroup> groups) {
        Set<List<Turn>> out = new HashSet<>();
        groups.forEach(g -> out.add(g.prompt()));
        return out;
    }

    private static void assertDisjointAndComplete(List<PreferenceGroup> all, PreferenceSplit s) {
        assertEquals(all.size(), s.train().size() + s.validation().size());
        assertTrue(!s.train().isEmpty() && !s.validation().isEmpty());
        Set<List<Turn>> shared = prompts(s.train());
        shared.retainAll(prompts(s.validation()));
        assertEquals(Set.of(), shared, "no prompt is on both sides");
        // Both halves keep the input order.
        List<PreferenceGroup> train = new ArrayList<>(all);
        train.removeAll(s.validation());
        assertEquals(train, s.train());
    }

    @Test
    void demoPrefsAndRankedSplitByPrompt() {
        for (String uri : List.of("demo:prefs?seed=7&count=400", "demo:ranked?seed=7&count=200&k=4")) {
            List<PreferenceGroup> all = PreferenceDocuments.read(SourceSpec.of(uri), 0, null).groups();
            // The demo world repeats questions, so the split has runs of equal keys to respect.
            assertTrue(prompts(all).size() < all.size() || uri.contains("ranked"), uri);
            PreferenceSplit s = PreferenceSplit.of(all, 0.1, 3);
            assertDisjointAndComplete(all, s);
            assertTrue(Math.abs(s.validation().size() - all.size() * 0.1) <= all.size() * 0.05, uri + ": "
                    + s.validation().size());
            assertEquals(s, PreferenceSplit.of(all, 0.1, 3), "deterministic");
            assertNotEquals(s.validation(), PreferenceSplit.of(all, 0.1, 4).validation(), "seeded");
        }
    }

    @Test
    void repeatedPromptsNeverStraddleTheCut() {
        List<PreferenceGroup> all = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            // 3 prompts, 10 lines each: any cut inside a prompt's run would leak it.
            all.add(PreferenceGroup.comparison("q" + (i % 3), "good " + i, "bad " + i, 0));
        }
        for (long seed = 0; seed < 20; seed++) {
            PreferenceSplit s = PreferenceSplit.of(all, 0.1, seed);
            assertDisjointAndComplete(all, s);
            assertEquals(10, s.validation().size());
        }
        // One distinct prompt cannot be split: everything trains.
        List<PreferenceGroup> same = List.of(PreferenceGroup.comparison("q", "a", "b", 0),
                PreferenceGroup.comparison("q", "c", "d", 0));
        PreferenceSplit s = PreferenceSplit.of(same, 0.5, 1);
        assertEquals(same, s.train());
        assertEquals(List.of(), s.validation());
        assertEquals(List.of(), PreferenceSplit.of(all, 0, 1).validation());
        String m = assertThrows(BadInputException.class, () -> PreferenceSplit.of(all, 1, 1)).getMessage();
        assertTrue(m.startsWith("data.val_fraction: "), m);
    }
}
