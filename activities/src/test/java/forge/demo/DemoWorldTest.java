package forge.demo;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoWorldTest {
    private final DemoWorld world = new DemoWorld(7);

    @Test
    void everyListIsAPureFunctionOfSeedAndArguments() {
        DemoWorld same = new DemoWorld(7);
        assertEquals(world.pretrainDocuments(300), same.pretrainDocuments(300));
        assertEquals(world.sftExamples(200, Split.TRAIN), same.sftExamples(200, Split.TRAIN));
        assertEquals(world.comparisons(200, Split.HELD_OUT), same.comparisons(200, Split.HELD_OUT));
        assertEquals(world.rankedLists(50, 4, Split.TRAIN), same.rankedLists(50, 4, Split.TRAIN));
        assertEquals(world.ppoPrompts(100, Split.HELD_OUT), same.ppoPrompts(100, Split.HELD_OUT));
        assertNotEquals(world.pretrainDocuments(50), new DemoWorld(8).pretrainDocuments(50));
        assertNotEquals(world.sftExamples(50, Split.TRAIN), new DemoWorld(8).sftExamples(50, Split.TRAIN));
    }

    @Test
    void askingForMoreExtendsTheListWithoutChangingItsStart() {
        assertEquals(world.pretrainDocuments(100), world.pretrainDocuments(400).subList(0, 100));
        assertEquals(world.ppoPrompts(30, Split.TRAIN), world.ppoPrompts(90, Split.TRAIN).subList(0, 30));
    }

    @Test
    void heldOutQuestionsNeverShareAProblemWithTrainingQuestions() {
        Set<Problem> train = problems(Split.TRAIN);
        Set<Problem> heldOut = problems(Split.HELD_OUT);
        assertTrue(heldOut.size() > 60, "held-out problems: " + heldOut.size());
        assertTrue(train.size() > 300, "train problems: " + train.size());
        Set<Problem> both = new HashSet<>(train);
        both.retainAll(heldOut);
        assertEquals(Set.of(), both);
        // The split of a problem is the same in every world, so no seed change can leak it.
        for (Problem p : heldOut) {
            assertTrue(p.heldOut());
        }
    }

    private Set<Problem> problems(Split split) {
        List<String> prompts = new ArrayList<>(world.ppoPrompts(1000, split));
        world.sftExamples(1000, split).forEach(e -> prompts.add(e.prompt()));
        world.comparisons(500, split).forEach(c -> prompts.add(c.prompt()));
        world.rankedLists(200, 3, split).forEach(r -> prompts.add(r.prompt()));
        Set<Problem> out = new HashSet<>();
        for (String prompt : prompts) {
            Problem p = HiddenRule.problem(prompt);
            assertNotNull(p, () -> "the rule cannot read its own prompt: " + prompt);
            assertEquals(split, world.splitOf(prompt));
            out.add(p);
        }
        return out;
    }

    @Test
    void supervisedResponsesAreCorrectAndConciseButNotAllPolite() {
        int polite = 0;
        int rude = 0;
        for (SftExample e : world.sftExamples(400, Split.TRAIN)) {
            double score = world.score(e.prompt(), e.response());
            assertTrue(world.correct(e.prompt(), e.response()), e.toString());
            assertTrue(score >= 0.6, e.toString()); // right, at worst rude and a word or two long
            polite += score > 1.0 ? 1 : 0;
            rude += score < 1.0 ? 1 : 0;
        }
        assertTrue(polite > 120 && polite < 200, "polite examples: " + polite);
        assertTrue(rude > 50 && rude < 110, "rude examples, which PPO should learn to avoid: " + rude);
    }

    @Test
    void preferenceDataIsLabelledByTheHiddenRule() {
        for (Comparison c : world.comparisons(300, Split.TRAIN)) {
            assertTrue(world.score(c.prompt(), c.chosen()) > world.score(c.prompt(), c.rejected()), c.toString());
        }
        for (RankedList r : world.rankedLists(100, DemoWorld.maxRankSize(), Split.HELD_OUT)) {
            assertEquals(DemoWorld.maxRankSize(), r.responses().size());
            for (int i = 1; i < r.responses().size(); i++) {
                assertTrue(world.score(r.prompt(), r.responses().get(i - 1))
                        > world.score(r.prompt(), r.responses().get(i)), r.toString());
            }
        }
    }

    @Test
    void pretrainingCorpusIsVariedAndStatesFactsInWordsAndDigits() {
        List<String> docs = world.pretrainDocuments(2000);
        assertTrue(new HashSet<>(docs).size() > 1900, "documents should rarely repeat");
        String all = String.join("\n", docs);
        assertTrue(all.contains(" plus ") && all.contains(" + ") && all.contains(" times ")
                && all.contains(" minus ") && all.contains("Q: ") && all.contains(" has "));
        assertTrue(all.matches("(?s).*\\b(one|two|three|four|five|six|seven|eight|nine|ten)\\b.*"));
        double meanChars = all.length() / 2000.0;
        assertTrue(meanChars > 100 && meanChars < 400, "mean document length " + meanChars);
    }
}
