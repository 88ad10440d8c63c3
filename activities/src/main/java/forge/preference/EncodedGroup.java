package forge.preference;

import java.util.Arrays;
import java.util.List;

/**
 * A {@link PreferenceGroup} as token ids: one sequence per response,
 * {@code [<|system|>s<|end|>] <|user|>u<|end|> ... <|assistant|> response <|end|>}, and the pairs as indexes into
 * {@code sequences}. Every sequence ends with the end-of-turn token, where the reward is read. All sequences of a group
 * share the same (possibly left-truncated) prompt, its first {@code promptLength} tokens; the reply follows (a
 * pretrained checkpoint's chat template marks turns with its own tokens, so the boundary is kept rather than looked
 * for). {@link #sequences()} hands out the stored arrays: do not modify them ({@link #sequence(int)} gives a copy).
 */
public record EncodedGroup(List<int[]> sequences, List<PreferenceGroup.Pair> pairs, int promptLength) {
    public EncodedGroup {
        sequences = sequences.stream().map(int[]::clone).toList();
        pairs = List.copyOf(pairs);
        if (sequences.size() < 2 || pairs.isEmpty()) {
            throw new IllegalArgumentException("an encoded group needs at least two sequences and one pair");
        }
        for (int[] s : sequences) {
            if (promptLength < 1 || s.length <= promptLength) {
                throw new IllegalArgumentException("every sequence must hold the " + promptLength
                        + "-token prompt (at least one token) and a reply after it, got " + s.length + " tokens");
            }
        }
        for (PreferenceGroup.Pair p : pairs) {
            if (p.chosen() >= sequences.size() || p.rejected() >= sequences.size()) {
                throw new IllegalArgumentException("pair " + p + " indexes past the " + sequences.size()
                        + " sequences");
            }
        }
    }

    /** A copy of sequence {@code i}. */
    public int[] sequence(int i) {
        return sequences.get(i).clone();
    }

    /** The longest sequence's length. */
    public int maxLength() {
        return sequences.stream().mapToInt(s -> s.length).max().orElse(0);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof EncodedGroup g) || g.sequences.size() != sequences.size() || !g.pairs.equals(pairs)
                || g.promptLength != promptLength) {
            return false;
        }
        for (int i = 0; i < sequences.size(); i++) {
            if (!Arrays.equals(g.sequences.get(i), sequences.get(i))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = pairs.hashCode();
        for (int[] s : sequences) {
            h = 31 * h + Arrays.hashCode(s);
        }
        return h;
    }

    @Override
    public String toString() {
        return "EncodedGroup[" + sequences.size() + " sequences, " + pairs.size() + " pairs, longest " + maxLength()
                + "]";
    }
}
