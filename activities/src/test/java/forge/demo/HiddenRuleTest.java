package forge.demo;

import org.junit.jupiter.api.Test;

import java.util.EnumMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HiddenRuleTest {
    private final DemoWorld world = new DemoWorld(1);
    private static final String Q = "What is 7 plus 5?";

    @Test
    void correctChecksTheLastNumberInDigitsOrWords() {
        assertTrue(world.correct(Q, "12"));
        assertTrue(world.correct(Q, "The answer is twelve."));
        assertTrue(world.correct(Q, "7 plus 5 is 12."));
        assertFalse(world.correct(Q, "12? No, 13."));
        assertFalse(world.correct(Q, "I do not know."));
        assertFalse(world.correct(Q, ""));
        assertFalse(world.correct(Q, "-12"));
        assertTrue(world.correct("What is 7 times 3?", "twenty one"));
        assertTrue(world.correct("What is 7 times 3?", "It is twenty-one."));
        assertTrue(world.correct("What is 10 times 10?", "one hundred"));
        assertFalse(world.correct(Q, "99999999999999999999"));
        assertTrue(world.correct("Mia has three apples. She gives one to Tom. How many apples does Mia have now?",
                "Two apples."));
        assertEquals(OptionalInt.of(12), world.answer("How much is seven plus five?"));
        assertEquals(OptionalInt.empty(), world.answer("What is the capital of France?"));
    }

    @Test
    void scoreFollowsTheDocumentedFormula() {
        assertEquals(1.0, world.score(Q, "The answer is 12."));
        assertEquals(1.2, world.score(Q, "Happy to help! The answer is 12."));
        assertEquals(0.7, world.score(Q, "Obviously it is 12. Duh."));
        assertEquals(-0.8, world.score(Q, "Thanks for asking! It is 13."));
        assertEquals(-1.0, world.score(Q, "No idea."));
        // 28 words: 20 beyond the budget, capped at -0.6.
        assertEquals(0.4, world.score(Q, "one two three four five six seven eight nine ten eleven twelve "
                + "a b c d e f g h i j k l m n o 12"));
        assertEquals(0.9, world.score(Q, "well let me see now then the answer is 12"));
        assertThrows(IllegalArgumentException.class, () -> world.score("Tell me a joke.", "12"));
    }

    @Test
    void scoreOrdersTheResponseStylesAsDocumented() {
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 300; i++) {
            Problem p = PretrainCorpus.randomProblem(r);
            Map<ResponseStyle, Double> s = new EnumMap<>(ResponseStyle.class);
            for (ResponseStyle style : ResponseStyle.values()) {
                s.put(style, HiddenRule.score(p, style.write(r, p)));
            }
            assertTrue(s.get(ResponseStyle.POLITE) > s.get(ResponseStyle.PLAIN), s.toString());
            assertTrue(s.get(ResponseStyle.PLAIN) > s.get(ResponseStyle.RUDE), s.toString());
            assertTrue(s.get(ResponseStyle.RUDE) > s.get(ResponseStyle.RAMBLING), s.toString());
            assertTrue(s.get(ResponseStyle.RAMBLING) > s.get(ResponseStyle.WRONG_POLITE), s.toString());
            assertTrue(s.get(ResponseStyle.WRONG_POLITE) > s.get(ResponseStyle.WRONG_PLAIN), s.toString());
            assertEquals(s.get(ResponseStyle.WRONG_PLAIN), s.get(ResponseStyle.NO_ANSWER), s.toString());
            assertTrue(s.get(ResponseStyle.NO_ANSWER) > s.get(ResponseStyle.WRONG_RUDE), s.toString());
            assertTrue(s.get(ResponseStyle.WRONG_RUDE) > s.get(ResponseStyle.WRONG_RAMBLING), s.toString());
            for (ResponseStyle style : ResponseStyle.values()) {
                assertEquals(style.right, HiddenRule.correct(p, style.write(r, p)), style.name());
            }
        }
    }

    @Test
    void everyQuestionTemplateReadsBackWhatItWrote() {
        SplittableRandom r = new SplittableRandom(4);
        for (Frame f : Frame.ALL) {
            for (int i = 0; i < 200; i++) {
                Problem p = PretrainCorpus.randomProblem(r);
                if (!f.fits(p)) {
                    continue;
                }
                String q = f.question().render(Bindings.random(r, p, !f.symbolic() && r.nextBoolean()));
                assertEquals(p, HiddenRule.problem(q), q);
            }
        }
    }

    @Test
    void numberWordsRoundTrip() {
        for (int n = 0; n <= NumberWords.MAX; n++) {
            assertEquals(n, NumberWords.value(NumberWords.words(n)));
        }
        assertEquals("twenty-one", NumberWords.words(21));
        assertEquals(-1, NumberWords.value("eleventy"));
    }
}
