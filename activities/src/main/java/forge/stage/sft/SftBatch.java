package forge.stage.sft;

import java.util.Arrays;

/**
 * A batch of SFT rows, every array (batchSize, blockSize) row-major.
 *
 * <ul>
 *   <li>{@code inputs}: token ids fed to the model; PAD after the last example of a row.</li>
 *   <li>{@code targets}: the token that should follow each input (the example's next token; PAD on padding). A
 *       target never crosses from one example to the next.</li>
 *   <li>{@code weights}: 1 where the target is an assistant token (content or closing {@code <|end|>}), else 0;
 *       always 0 on padding. Pass as the weights of {@code Gpt.crossEntropy(logits, targets, weights)}.</li>
 *   <li>{@code segmentIds}: which example of the row a position belongs to, 1, 2, ...; 0 on padding. Without
 *       packing a row holds one example, so this is 1 then 0s. With packing, position i may attend to position j
 *       only if {@code j <= i && segmentIds[i] == segmentIds[j]} (a block-diagonal causal mask).</li>
 *   <li>{@code positions}: the position id of each input inside its own example (0, 1, ... restarting at each
 *       example; 0 on padding). Without packing it equals the column index wherever the weight can be non-zero,
 *       which is what a model using implicit positions 0..T-1 computes.</li>
 * </ul>
 */
public record SftBatch(int batchSize, int blockSize, long[] inputs, long[] targets, float[] weights,
                       int[] segmentIds, int[] positions) {
    public SftBatch {
        if (batchSize < 1 || blockSize < 1) {
            throw new IllegalArgumentException("batch " + batchSize + " x " + blockSize + " is empty");
        }
        long n = (long) batchSize * blockSize;
        if (inputs.length != n || targets.length != n || weights.length != n || segmentIds.length != n
                || positions.length != n) {
            throw new IllegalArgumentException("every array must hold " + n + " entries");
        }
    }

    /** Sum of the weights: the number of targets this batch trains on (to combine per-batch mean losses exactly). */
    public double weightSum() {
        double s = 0;
        for (float w : weights) {
            s += w;
        }
        return s;
    }

    /** The longest row's used width (last non-padding position + 1), at least 1. */
    public int usedWidth() {
        int used = 1;
        for (int r = 0; r < batchSize; r++) {
            for (int t = blockSize - 1; t >= used; t--) {
                if (segmentIds[r * blockSize + t] != 0) {
                    used = t + 1;
                    break;
                }
            }
        }
        return used;
    }

    /**
     * The same batch cut to {@code width} columns (only padding may be cut: width >= {@link #usedWidth()}), to save
     * compute on short rows. Loss and gradients are unchanged: a causal model's outputs at kept positions do not
     * depend on later positions, and cut positions have weight 0.
     */
    public SftBatch narrowed(int width) {
        if (width < usedWidth() || width > blockSize) {
            throw new IllegalArgumentException("width must be in " + usedWidth() + ".." + blockSize + ", got " + width);
        }
        if (width == blockSize) {
            return this;
        }
        int n = batchSize * width;
        long[] in = new long[n];
        long[] tg = new long[n];
        float[] w = new float[n];
        int[] seg = new int[n];
        int[] pos = new int[n];
        for (int r = 0; r < batchSize; r++) {
            System.arraycopy(inputs, r * blockSize, in, r * width, width);
            System.arraycopy(targets, r * blockSize, tg, r * width, width);
            System.arraycopy(weights, r * blockSize, w, r * width, width);
            System.arraycopy(segmentIds, r * blockSize, seg, r * width, width);
            System.arraycopy(positions, r * blockSize, pos, r * width, width);
        }
        return new SftBatch(batchSize, width, in, tg, w, seg, pos);
    }

    /** Content equality, which is what exact resume relies on. */
    @Override
    public boolean equals(Object o) {
        return o instanceof SftBatch b && b.batchSize == batchSize && b.blockSize == blockSize
                && Arrays.equals(b.inputs, inputs) && Arrays.equals(b.targets, targets)
                && Arrays.equals(b.weights, weights) && Arrays.equals(b.segmentIds, segmentIds)
                && Arrays.equals(b.positions, positions);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * batchSize + blockSize) + Arrays.hashCode(inputs) * 17 + Arrays.hashCode(targets)
                + 7 * Arrays.hashCode(weights);
    }

    @Override
    public String toString() {
        return "SftBatch[" + batchSize + "x" + blockSize + ", weighted=" + (long) weightSum() + "]";
    }
}
