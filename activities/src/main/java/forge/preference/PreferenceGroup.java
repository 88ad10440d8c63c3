package forge.preference;

import forge.chat.Turn;

import java.util.List;
import java.util.Objects;

/**
 * The preference data of one prompt: the context, the distinct responses that were compared, and which response was
 * preferred over which. A comparison line is a group of 2 responses and 1 pair; a ranked line (best first) a group of
 * K responses and up to K(K-1)/2 pairs. All pairs of a prompt stay in one group so that they are batched, split and
 * shuffled together (InstructGPT: training on every pair of a prompt as separate examples overfits).
 *
 * @param prompt    the context the responses answer, as chat turns: an optional system turn first, then user and
 *                  assistant turns, ending with a user turn. Rendered with {@link forge.chat.ChatEncoder#prompt}, which
 *                  appends the {@code <|assistant|>} marker the responses follow.
 * @param responses at least two assistant replies, none blank
 * @param pairs     at least one pair; indexes into {@code responses}
 */
public record PreferenceGroup(List<Turn> prompt, List<String> responses, List<Pair> pairs) {

    /**
     * {@code responses[chosen]} is preferred over {@code responses[rejected]}.
     *
     * @param margin how strongly, &gt;= 0 and finite; 0 where the data gives none. A reward-model loss may use it as
     *               {@code -log sigmoid(r_chosen - r_rejected - margin)} (Llama 2).
     */
    public record Pair(int chosen, int rejected, double margin) {
        public Pair {
            if (chosen < 0 || rejected < 0 || chosen == rejected) {
                throw new IllegalArgumentException("a pair needs two different response indexes >= 0, got " + chosen
                        + " and " + rejected);
            }
            if (!(margin >= 0) || Double.isInfinite(margin)) {
                throw new IllegalArgumentException("margin must be finite and >= 0, got " + margin);
            }
        }

        public static Pair of(int chosen, int rejected) {
            return new Pair(chosen, rejected, 0);
        }
    }

    public PreferenceGroup {
        prompt = List.copyOf(prompt);
        responses = List.copyOf(responses);
        pairs = List.copyOf(pairs);
        if (prompt.isEmpty()) {
            throw new IllegalArgumentException("the prompt needs at least one turn");
        }
        for (int i = 1; i < prompt.size(); i++) {
            if (prompt.get(i).role().equals(Turn.SYSTEM)) {
                throw new IllegalArgumentException("a system turn may only come first, found one at " + i);
            }
        }
        if (!prompt.get(prompt.size() - 1).role().equals(Turn.USER)) {
            throw new IllegalArgumentException("the prompt must end with a user turn, got "
                    + prompt.get(prompt.size() - 1).role());
        }
        if (responses.size() < 2) {
            throw new IllegalArgumentException("a group needs at least two responses, got " + responses.size());
        }
        for (int i = 0; i < responses.size(); i++) {
            if (Objects.requireNonNull(responses.get(i), "response").isBlank()) {
                throw new IllegalArgumentException("response " + i + " is blank");
            }
        }
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("a group needs at least one pair");
        }
        for (Pair p : pairs) {
            if (p.chosen() >= responses.size() || p.rejected() >= responses.size()) {
                throw new IllegalArgumentException("pair " + p + " indexes past the " + responses.size()
                        + " responses");
            }
        }
    }

    /** A single comparison: {@code chosen} preferred over {@code rejected} for a one-turn user prompt. */
    public static PreferenceGroup comparison(String userPrompt, String chosen, String rejected, double margin) {
        return new PreferenceGroup(List.of(Turn.user(userPrompt)), List.of(chosen, rejected),
                List.of(new Pair(0, 1, margin)));
    }

    /**
     * A ranking, best first, as every (better, worse) pair; pairs of identical texts are left out (they carry no
     * preference). Throws if no pair remains.
     */
    public static PreferenceGroup ranked(List<Turn> prompt, List<String> bestFirst) {
        List<Pair> pairs = new java.util.ArrayList<>();
        for (int i = 0; i < bestFirst.size(); i++) {
            for (int j = i + 1; j < bestFirst.size(); j++) {
                if (!bestFirst.get(i).equals(bestFirst.get(j))) {
                    pairs.add(Pair.of(i, j));
                }
            }
        }
        return new PreferenceGroup(prompt, bestFirst, pairs);
    }
}
