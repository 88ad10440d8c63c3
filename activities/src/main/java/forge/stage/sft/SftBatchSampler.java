package forge.stage.sft;

import forge.chat.EncodedExample;
import forge.data.EpochOrder;
import forge.data.Seeds;
import forge.errors.BadInputException;
import forge.tokenizer.SpecialToken;

import java.util.ArrayList;
import java.util.List;

/**
 * Draws SFT batches. A training batch is a pure function of (seed, step, micro) and the fixed arguments
 * (examples, blockSize, pack, microBatches, batchSize): no cursor to save, resume is exact.
 *
 * <p><b>Order.</b> The examples are grouped into rows once: without packing one example per row; with packing,
 * examples in a seeded order are laid next to each other while they fit in block_size positions (next-fit). Training
 * then walks the rows in epochs, each epoch a fresh seeded permutation, so every row is seen once per epoch: the
 * global row number of row {@code r} of micro-batch {@code micro} of step {@code step} is
 * {@code (step * microBatches + micro) * batchSize + r}, its epoch that divided by {@link #rowsPerEpoch()}.
 * This needs microBatches and batchSize to stay the same for the whole run (they are part of the stage config).
 *
 * <p><b>Packing.</b> Packed rows need a block-diagonal attention mask and per-example positions (see
 * {@link SftBatch#segmentIds()} and {@link SftBatch#positions()}); a model that only applies a causal mask lets a
 * packed example attend to the one before it. Use {@code pack=false} until the model consumes them.
 */
public final class SftBatchSampler {
    private static final long PACK_ORDER = 0x5F7_9AC4L;
    private static final long EPOCH = 0x5F7_E90CL;
    private final EpochOrder order;

    private final List<EncodedExample> examples;
    private final int blockSize;
    private final long seed;
    private final boolean pack;
    private final int[][] rows; // example indices per row


    public SftBatchSampler(List<EncodedExample> examples, int blockSize, long seed, boolean pack) {
        if (blockSize < 1) {
            throw BadInputException.field("model.block_size", "must be >= 1, got " + blockSize);
        }
        if (examples.isEmpty()) {
            throw new BadInputException("sft: no training examples (all were skipped as too long, or the data is "
                    + "empty)");
        }
        for (int i = 0; i < examples.size(); i++) {
            if (examples.get(i).positions() > blockSize) {
                throw new IllegalArgumentException("example " + i + " has " + examples.get(i).tokens().length
                        + " tokens, more than block_size + 1 = " + (blockSize + 1) + "; encode with ChatEncoder");
            }
        }
        this.examples = List.copyOf(examples);
        this.blockSize = blockSize;
        this.seed = seed;
        this.pack = pack;
        this.rows = pack ? packRows() : singleRows();
        this.order = new EpochOrder(rows.length, seed, EPOCH);
    }

    private int[][] singleRows() {
        int[][] r = new int[examples.size()][];
        for (int i = 0; i < r.length; i++) {
            r[i] = new int[] {i};
        }
        return r;
    }

    private int[][] packRows() {
        int[] order = EpochOrder.permutation(examples.size(), Seeds.mix(seed, PACK_ORDER));
        List<int[]> out = new ArrayList<>();
        List<Integer> row = new ArrayList<>();
        int used = 0;
        for (int i : order) {
            int p = examples.get(i).positions();
            if (used + p > blockSize) {
                out.add(row.stream().mapToInt(Integer::intValue).toArray());
                row.clear();
                used = 0;
            }
            row.add(i);
            used += p;
        }
        out.add(row.stream().mapToInt(Integer::intValue).toArray());
        return out.toArray(new int[0][]);
    }

    public int blockSize() {
        return blockSize;
    }

    public boolean packed() {
        return pack;
    }

    /** Rows in one pass over the data: the example count without packing, fewer with it. */
    public int rowsPerEpoch() {
        return rows.length;
    }

    /** Epochs completed after {@code steps} optimizer steps, as a fraction; for progress reporting. */
    public double epochs(long steps, int microBatches, int batchSize) {
        return (double) steps * microBatches * batchSize / rows.length;
    }

    /**
     * Micro-batch {@code micro} (0..microBatches-1) of optimizer step {@code step}; identical on every call, process
     * and machine.
     */
    public SftBatch train(long step, int micro, int microBatches, int batchSize) {
        if (step < 0 || micro < 0 || micro >= microBatches) {
            throw new IllegalArgumentException("need step >= 0 and 0 <= micro < microBatches, got step " + step
                    + ", micro " + micro + ", microBatches " + microBatches);
        }
        requireBatch(batchSize);
        long first = (step * microBatches + micro) * (long) batchSize;
        int[][] picked = new int[batchSize][];
        for (int r = 0; r < batchSize; r++) {
            long g = first + r;
            picked[r] = rows[order.item(g)];
        }
        return fill(picked);
    }

    /**
     * Every row once, in a fixed order, for evaluation (use a sampler over the validation examples). The last batch
     * is filled up with all-padding rows, which have weight 0. Combine the per-batch mean losses weighted by
     * {@link SftBatch#weightSum()} for the exact per-token mean.
     */
    public List<SftBatch> sequential(int batchSize) {
        requireBatch(batchSize);
        List<SftBatch> out = new ArrayList<>();
        for (int start = 0; start < rows.length; start += batchSize) {
            int[][] picked = new int[batchSize][];
            for (int r = 0; r < batchSize; r++) {
                picked[r] = start + r < rows.length ? rows[start + r] : new int[0];
            }
            out.add(fill(picked));
        }
        return out;
    }

    private SftBatch fill(int[][] picked) {
        int b = picked.length;
        int n = b * blockSize;
        long[] inputs = new long[n];
        long[] targets = new long[n];
        float[] weights = new float[n];
        int[] seg = new int[n];
        int[] pos = new int[n];
        java.util.Arrays.fill(inputs, SpecialToken.PAD.id());
        java.util.Arrays.fill(targets, SpecialToken.PAD.id());
        for (int r = 0; r < b; r++) {
            int at = r * blockSize;
            int segment = 0;
            for (int idx : picked[r]) {
                EncodedExample e = examples.get(idx);
                int[] tok = e.tokens();
                float[] mask = e.lossMask();
                segment++;
                for (int t = 0; t + 1 < tok.length; t++, at++) {
                    inputs[at] = tok[t];
                    targets[at] = tok[t + 1];
                    weights[at] = mask[t + 1];
                    seg[at] = segment;
                    pos[at] = t;
                }
            }
        }
        return new SftBatch(b, blockSize, inputs, targets, weights, seg, pos);
    }

    private void requireBatch(int batchSize) {
        if (batchSize < 1 || (long) batchSize * blockSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("batch size must be >= 1 and fit in memory, got " + batchSize);
        }
    }
}
