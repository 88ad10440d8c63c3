package forge.stage.sft;

import forge.chat.Conversation;
import forge.chat.Turn;
import forge.data.Seeds;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * A deterministic train/validation split of conversations: each conversation gets a key from (seed, its content),
 * and the {@code round(n * valFraction)} lowest keys (at least 1 when valFraction > 0, at most n - 1) go to
 * validation. Depends only on the seed and the contents, not on the JVM, and both halves keep the input order.
 * Identical conversations get identical keys, so duplicates land next to each other in key order.
 */
public record TrainValSplit(List<Conversation> train, List<Conversation> validation) {
    public TrainValSplit {
        train = List.copyOf(train);
        validation = List.copyOf(validation);
    }

    /** @param valFraction in [0, 1) */
    public static TrainValSplit of(List<Conversation> all, double valFraction, long seed) {
        if (!(valFraction >= 0 && valFraction < 1)) {
            throw BadInputException.field("data.val_fraction", "must be in [0, 1), got " + valFraction);
        }
        int n = all.size();
        int nVal = (int) Math.round(n * valFraction);
        if (valFraction > 0 && n >= 2) {
            nVal = Math.max(1, Math.min(n - 1, nVal));
        }
        long[] keys = new long[n];
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) {
            keys[i] = Seeds.mix(seed, contentHash(all.get(i)));
            idx[i] = i;
        }
        Arrays.sort(idx, Comparator.<Integer>comparingLong(i -> keys[i]).thenComparingInt(i -> i));
        boolean[] isVal = new boolean[n];
        for (int k = 0; k < nVal; k++) {
            isVal[idx[k]] = true;
        }
        List<Conversation> train = new ArrayList<>(n - nVal);
        List<Conversation> val = new ArrayList<>(nVal);
        for (int i = 0; i < n; i++) {
            (isVal[i] ? val : train).add(all.get(i));
        }
        return new TrainValSplit(train, val);
    }

    /** FNV-1a over roles and contents (UTF-16 units), with separators; stable across JVMs. */
    static long contentHash(Conversation c) {
        long h = 0xcbf29ce484222325L;
        for (Turn t : c.turns()) {
            for (String s : new String[] {t.role(), t.content()}) {
                for (int i = 0; i < s.length(); i++) {
                    h = (h ^ s.charAt(i)) * 0x100000001b3L;
                }
                h = (h ^ 0x1F) * 0x100000001b3L;
            }
        }
        return h;
    }
}
