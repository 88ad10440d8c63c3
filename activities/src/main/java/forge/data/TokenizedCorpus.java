package forge.data;

import forge.errors.BadInputException;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;

import java.util.List;

/**
 * Every source's documents as one token stream, each document followed by {@link SpecialToken#END_OF_TEXT}, split
 * as nanoGPT does: the first (1 - val_fraction) of the tokens train, the rest validate. Holding out the tail rather
 * than random documents keeps the validation text unseen even when neighbouring documents are near-duplicates.
 */
public final class TokenizedCorpus {
    private final List<SourceSpec> sources;
    private final int[][] tokens;     // per source
    private final int[] trainEnd;     // per source: train is [0, trainEnd), validation [trainEnd, length)
    private final double[] weights;   // per source, normalised to sum to 1
    private final int vocabSize;

    public TokenizedCorpus(List<List<String>> docsPerSource, List<SourceSpec> sources, Tokenizer tokenizer,
                           double valFraction) {
        if (docsPerSource.size() != sources.size() || sources.isEmpty()) {
            throw new IllegalArgumentException("need documents for each of " + sources.size() + " sources, got "
                    + docsPerSource.size());
        }
        if (!(valFraction > 0 && valFraction < 1)) {
            throw BadInputException.field("data.val_fraction", "must be between 0 and 1 (exclusive), got "
                    + valFraction);
        }
        this.sources = List.copyOf(sources);
        this.vocabSize = tokenizer.vocabSize();
        int n = sources.size();
        tokens = new int[n][];
        trainEnd = new int[n];
        weights = new double[n];
        double total = sources.stream().mapToDouble(SourceSpec::weight).sum();
        int eot = tokenizer.id(SpecialToken.END_OF_TEXT);
        for (int s = 0; s < n; s++) {
            tokens[s] = encode(docsPerSource.get(s), tokenizer, eot, s);
            trainEnd[s] = (int) (tokens[s].length * (1 - valFraction));
            weights[s] = sources.get(s).weight() / total;
        }
    }

    private static int[] encode(List<String> docs, Tokenizer tokenizer, int eot, int source) {
        // Parallel encode keeps document order (the stream is ordered); the tokenizer is thread-safe.
        List<int[]> encoded = (docs.size() > 256 ? docs.parallelStream() : docs.stream())
                .map(tokenizer::encode).toList();
        long total = encoded.stream().mapToLong(e -> e.length + 1L).sum();
        if (total > Integer.MAX_VALUE - 8) {
            throw new BadInputException(SourceSpec.fieldName(source) + ": more than " + Integer.MAX_VALUE
                    + " tokens in one source; split it into several sources");
        }
        int[] out = new int[(int) total];
        int at = 0;
        for (int[] e : encoded) {
            System.arraycopy(e, 0, out, at, e.length);
            at += e.length;
            out[at++] = eot;
        }
        return out;
    }

    public int sourceCount() {
        return sources.size();
    }

    public SourceSpec source(int s) {
        return sources.get(s);
    }

    /** The share of training rows drawn from source s (weights normalised to sum to 1). */
    public double weight(int s) {
        return weights[s];
    }

    public int trainTokens(int s) {
        return trainEnd[s];
    }

    public int validationTokens(int s) {
        return tokens[s].length - trainEnd[s];
    }

    public long totalTrainTokens() {
        long sum = 0;
        for (int s = 0; s < sources.size(); s++) {
            sum += trainTokens(s);
        }
        return sum;
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** Token {@code i} of source s's whole stream (train then validation). */
    public int token(int s, int i) {
        return tokens[s][i];
    }

    /**
     * The loss of the best context-free model, in nats per token: the entropy of the training tokens' unigram
     * distribution, mixed across sources by weight. Validation loss should end far below it.
     */
    public double unigramEntropyNats() {
        long[] counts = new long[vocabSize];
        double[] mixed = new double[vocabSize];
        for (int s = 0; s < sources.size(); s++) {
            java.util.Arrays.fill(counts, 0);
            for (int i = 0; i < trainEnd[s]; i++) {
                counts[tokens[s][i]]++;
            }
            for (int t = 0; t < vocabSize; t++) {
                mixed[t] += weights[s] * counts[t] / Math.max(1, trainEnd[s]);
            }
        }
        double h = 0;
        for (double p : mixed) {
            if (p > 0) {
                h -= p * Math.log(p);
            }
        }
        return h;
    }

    int[] tokens(int s) {
        return tokens[s];
    }

    int trainEnd(int s) {
        return trainEnd[s];
    }
}
