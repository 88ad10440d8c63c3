package forge.data;

import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Draws training and validation windows. A training batch is a pure function of (seed, step, micro): its random
 * stream is seeded from those three alone, so a run resumed at any step sees exactly the batches it would have seen,
 * with no data cursor to save. Each row picks its source by weight, then a uniformly random window inside that
 * source's training split.
 */
public final class BatchSampler {
    private static final long VALIDATION = 0x7A11DA7EL;

    private final TokenizedCorpus corpus;
    private final int blockSize;
    private final long seed;
    private final double[] cumulative;

    public BatchSampler(TokenizedCorpus corpus, int blockSize, long seed) {
        if (blockSize < 1) {
            throw BadInputException.field("model.block_size", "must be >= 1, got " + blockSize);
        }
        this.corpus = corpus;
        this.blockSize = blockSize;
        this.seed = seed;
        int n = corpus.sourceCount();
        cumulative = new double[n];
        double sum = 0;
        for (int s = 0; s < n; s++) {
            requireLength(s, "training", corpus.trainTokens(s), "add text");
            requireLength(s, "validation", corpus.validationTokens(s), "raise data.val_fraction or add text");
            sum += corpus.weight(s);
            cumulative[s] = sum;
        }
        cumulative[n - 1] = 1.0; // so rounding can never leave a draw past the last source
    }

    private void requireLength(int s, String split, int tokens, String fix) {
        if (tokens < blockSize + 1) {
            throw new BadInputException(SourceSpec.fieldName(s) + ": " + corpus.source(s).path() + " has " + tokens
                    + " " + split + " tokens, fewer than block_size + 1 = " + (blockSize + 1) + "; " + fix
                    + " or lower model.block_size");
        }
    }

    public int blockSize() {
        return blockSize;
    }

    /** Micro-batch {@code micro} of optimizer step {@code step}; identical on every call, process and machine. */
    public Batch train(long step, int micro, int batchSize) {
        requireBatch(batchSize);
        SplittableRandom r = new SplittableRandom(Seeds.mix(seed, step, micro));
        long[] inputs = new long[batchSize * blockSize];
        long[] targets = new long[batchSize * blockSize];
        for (int row = 0; row < batchSize; row++) {
            int s = pickSource(r.nextDouble());
            int start = r.nextInt(corpus.trainEnd(s) - blockSize);
            copyWindow(s, start, row, inputs, targets);
        }
        return new Batch(batchSize, blockSize, inputs, targets);
    }

    /** Fixed validation batches (the same for every call with the same arguments), sources mixed by weight. */
    public List<Batch> validation(int batches, int batchSize) {
        return validation(-1, batches, batchSize);
    }

    /** Fixed validation batches from one source only, to report each source's loss. */
    public List<Batch> validation(int source, int batches, int batchSize) {
        requireBatch(batchSize);
        if (source >= corpus.sourceCount()) {
            throw new IllegalArgumentException("no source " + source);
        }
        List<Batch> out = new ArrayList<>(batches);
        for (int b = 0; b < batches; b++) {
            SplittableRandom r = new SplittableRandom(Seeds.mix(seed, VALIDATION, source, b));
            long[] inputs = new long[batchSize * blockSize];
            long[] targets = new long[batchSize * blockSize];
            for (int row = 0; row < batchSize; row++) {
                int s = source >= 0 ? source : pickSource(r.nextDouble());
                int trainEnd = corpus.trainEnd(s);
                int start = trainEnd + r.nextInt(corpus.tokens(s).length - trainEnd - blockSize);
                copyWindow(s, start, row, inputs, targets);
            }
            out.add(new Batch(batchSize, blockSize, inputs, targets));
        }
        return out;
    }

    private int pickSource(double u) {
        for (int s = 0; s < cumulative.length; s++) {
            if (u < cumulative[s]) {
                return s;
            }
        }
        return cumulative.length - 1;
    }

    private void copyWindow(int s, int start, int row, long[] inputs, long[] targets) {
        int[] tok = corpus.tokens(s);
        int base = row * blockSize;
        for (int t = 0; t < blockSize; t++) {
            inputs[base + t] = tok[start + t];
            targets[base + t] = tok[start + t + 1];
        }
    }

    private void requireBatch(int batchSize) {
        if (batchSize < 1 || (long) batchSize * blockSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("batch size must be >= 1 and fit in memory, got " + batchSize);
        }
    }
}
