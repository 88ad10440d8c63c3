package forge.data;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Baselines to judge a language model's loss against. */
public final class CorpusStats {
    private CorpusStats() {
    }

    /**
     * Entropy of the character (code point) distribution, in nats: the loss of the best model that ignores context.
     * A char-level model whose validation loss is not well below this has learnt nothing but letter frequencies.
     */
    public static double unigramEntropyNats(List<String> documents) {
        Map<Integer, long[]> counts = new HashMap<>();
        long total = 0;
        for (String d : documents) {
            for (int i = 0; i < d.length(); ) {
                int cp = d.codePointAt(i);
                i += Character.charCount(cp);
                counts.computeIfAbsent(cp, k -> new long[1])[0]++;
                total++;
            }
        }
        long[] values = new long[counts.size()];
        int i = 0;
        for (long[] c : counts.values()) {
            values[i++] = c[0];
        }
        return entropy(values, total);
    }

    /** Entropy of the token distribution of {@code tokens[from, to)}, in nats. */
    public static double unigramEntropyNats(int[] tokens, int from, int to, int vocabSize) {
        long[] counts = new long[vocabSize];
        for (int i = from; i < to; i++) {
            counts[tokens[i]]++;
        }
        return entropy(counts, to - from);
    }

    static double entropy(long[] counts, long total) {
        double h = 0;
        for (long c : counts) {
            if (c > 0) {
                double p = (double) c / total;
                h -= p * Math.log(p);
            }
        }
        return h;
    }
}
