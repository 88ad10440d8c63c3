package forge.demo;

import java.util.List;
import java.util.SplittableRandom;

/**
 * The controlled ways an answer can be good or bad. Listed best first: on any prompt the hidden rule scores them in
 * this order, except that WRONG_PLAIN and NO_ANSWER tie.
 */
enum ResponseStyle {
    POLITE(true, List.of("Happy to help! The answer is {n}.", "Sure! It is {n}. Thanks for asking.",
            "The answer is {n}. Glad to help!")),
    PLAIN(true, List.of("The answer is {n}.", "It is {n}.", "{n}.")),
    RUDE(true, List.of("Obviously it is {n}. Duh.", "It is {n}. Figure it out yourself next time.",
            "Whatever. It is {n}.")),
    RAMBLING(true, Rambles.ALL),
    WRONG_POLITE(false, POLITE.templates),
    WRONG_PLAIN(false, PLAIN.templates),
    NO_ANSWER(false, List.of("I am not sure about that.", "I cannot tell.", "Hard to say.")),
    WRONG_RUDE(false, RUDE.templates),
    WRONG_RAMBLING(false, Rambles.ALL);

    final boolean right;
    final List<String> templates;

    ResponseStyle(boolean right, List<String> templates) {
        this.right = right;
        this.templates = templates;
    }

    String write(SplittableRandom r, Problem p) {
        String t = Rng.pick(r, templates);
        return t.replace("{n}", Integer.toString(right ? p.answer() : wrongAnswer(r, p)));
    }

    /**
     * The answer to another problem of the same operation: wrong numbers are then drawn as right ones are, so no
     * number is more often right than another and a reward model can only tell a wrong answer by the arithmetic.
     * (Near misses, tried first, made a lone "0" almost always right in the comparisons; the reward model learned
     * that, and PPO learned to answer every question with 0.)
     */
    private static int wrongAnswer(SplittableRandom r, Problem p) {
        Problem other;
        do {
            other = PretrainCorpus.randomProblem(r);
        } while (other.op() != p.op() || other.answer() == p.answer());
        return other.answer();
    }

    /** Long enough to hit the full length penalty; free of numbers, courtesy and rudeness. */
    private static final class Rambles {
        static final List<String> ALL = List.of(
                "Well, let me think about this for a little while. Numbers can be tricky, so I will go slowly and "
                        + "check every step twice before I say anything. The answer is {n}.",
                "Hmm, that is an interesting question, and there are many ways to look at it. Some people count "
                        + "on their fingers, some draw pictures, and some just guess. I think it is {n}.",
                "Before I answer, I want to say that arithmetic has a long history, going back to the oldest "
                        + "markets and farms of the world. Anyway, it comes out to {n}.");
    }
}
