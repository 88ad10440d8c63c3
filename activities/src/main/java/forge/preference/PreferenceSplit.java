package forge.preference;

import forge.chat.Turn;
import forge.data.Seeds;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * A deterministic train/validation split of preference groups by prompt, like {@link forge.stage.sft.TrainValSplit}: each
 * group gets a key from (seed, its prompt's content), and the groups with the lowest keys go to validation, about
 * {@code round(n * valFraction)} of them (at least 1 when valFraction &gt; 0 and there are at least two distinct
 * prompts). Groups with the same prompt get the same key and always land on the same side, so no prompt is both
 * trained and validated on, even when it appears on several lines; the validation side is grown to the end of a run
 * of equal keys, or cut before it where that would leave no training group. With a single distinct prompt everything
 * is training data. Depends only on the seed and the contents; both halves keep the input order.
 */
public record PreferenceSplit(List<PreferenceGroup> train, List<PreferenceGroup> validation) {
    public PreferenceSplit {
        train = List.copyOf(train);
        validation = List.copyOf(validation);
    }

    /** @param valFraction in [0, 1) */
    public static PreferenceSplit of(List<PreferenceGroup> all, double valFraction, long seed) {
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
            keys[i] = Seeds.mix(seed, promptHash(all.get(i).prompt()));
            idx[i] = i;
        }
        Arrays.sort(idx, Comparator.<Integer>comparingLong(i -> keys[i]).thenComparingInt(i -> i));
        int cut = nVal; // validation = idx[0 .. cut)
        if (cut > 0) {
            long last = keys[idx[cut - 1]];
            int grown = cut;
            while (grown < n && keys[idx[grown]] == last) {
                grown++;
            }
            if (grown < n) {
                cut = grown;
            } else {
                while (cut > 0 && keys[idx[cut - 1]] == last) {
                    cut--;
                }
            }
        }
        boolean[] isVal = new boolean[n];
        for (int k = 0; k < cut; k++) {
            isVal[idx[k]] = true;
        }
        List<PreferenceGroup> train = new ArrayList<>(n - cut);
        List<PreferenceGroup> val = new ArrayList<>(cut);
        for (int i = 0; i < n; i++) {
            (isVal[i] ? val : train).add(all.get(i));
        }
        return new PreferenceSplit(train, val);
    }

    /** FNV-1a over the prompt's roles and contents (UTF-16 units), with separators; stable across JVMs. */
    static long promptHash(List<Turn> prompt) {
        long h = 0xcbf29ce484222325L;
        for (Turn t : prompt) {
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
