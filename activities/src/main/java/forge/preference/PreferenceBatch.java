package forge.preference;

import java.util.Arrays;

/**
 * A batch of reward-model rows and the preference pairs among them. {@code sequences} is (rows, blockSize) row-major;
 * the other arrays are per row or per pair.
 *
 * <ul>
 *   <li>{@code sequences}: token ids of one response each (prompt, {@code <|assistant|>}, reply, {@code <|end|>}),
 *       left-aligned and padded with the tokenizer's pad id. Each distinct response of a group is one row, however many pairs it is in
 *       (a ranked group of K gives K rows and K(K-1)/2 pairs). The row count varies from batch to batch.</li>
 *   <li>{@code lastIndex}: per row, the column of its last token, the closing end-of-turn token. The scalar reward
 *       is read at {@link #scoreIndex}, the last non-pad token, which is the same column unless the end-of-turn token
 *       is the pad token too. A causal model's output there does not depend on the padding after it.</li>
 *   <li>{@code replyStart}: per row, the column of its reply's first token (the prompt is before it).</li>
 *   <li>{@code chosenRow}, {@code rejectedRow}: per pair, the rows of the preferred and the other response.</li>
 *   <li>{@code margin}: per pair, how strongly it is preferred (&gt;= 0; 0 where the data gives none), for
 *       {@code -log sigmoid(r_chosen - r_rejected - margin)}.</li>
 *   <li>{@code pairGroup}: per pair, which of the batch's {@code groups} (0-based) it comes from; see
 *       {@link #pairWeights()}.</li>
 * </ul>
 */
public record PreferenceBatch(int rows, int blockSize, long[] sequences, int[] lastIndex, int[] replyStart,
                              int[] chosenRow, int[] rejectedRow, float[] margin, int[] pairGroup, int groups) {
    public PreferenceBatch {
        if (rows < 1 || blockSize < 1 || groups < 1) {
            throw new IllegalArgumentException("batch " + rows + " x " + blockSize + " of " + groups
                    + " groups is empty");
        }
        if (sequences.length != (long) rows * blockSize || lastIndex.length != rows || replyStart.length != rows) {
            throw new IllegalArgumentException("sequences must hold rows x blockSize entries, lastIndex and replyStart "
                    + "one per row");
        }
        int p = chosenRow.length;
        if (p < 1 || rejectedRow.length != p || margin.length != p || pairGroup.length != p) {
            throw new IllegalArgumentException("chosenRow, rejectedRow, margin and pairGroup must have the same "
                    + "length >= 1");
        }
        for (int i = 0; i < rows; i++) {
            if (lastIndex[i] < 0 || lastIndex[i] >= blockSize) {
                throw new IllegalArgumentException("lastIndex[" + i + "] = " + lastIndex[i] + " is outside 0.."
                        + (blockSize - 1));
            }
            if (replyStart[i] < 1 || replyStart[i] > lastIndex[i]) {
                throw new IllegalArgumentException("replyStart[" + i + "] = " + replyStart[i] + " is outside 1.."
                        + lastIndex[i]);
            }
        }
        for (int i = 0; i < p; i++) {
            if (chosenRow[i] < 0 || chosenRow[i] >= rows || rejectedRow[i] < 0 || rejectedRow[i] >= rows
                    || chosenRow[i] == rejectedRow[i] || pairGroup[i] < 0 || pairGroup[i] >= groups) {
                throw new IllegalArgumentException("pair " + i + " refers to a row or group that does not exist");
            }
        }
    }

    public int pairs() {
        return chosenRow.length;
    }

    /**
     * Per pair, 1 / (pairs of its group in this batch): every group (prompt) weighs the same however many pairs it
     * has, as in InstructGPT's loss. They sum to {@link #groups()}; divide the weighted sum of pair losses by that.
     */
    public float[] pairWeights() {
        int[] perGroup = new int[groups];
        for (int g : pairGroup) {
            perGroup[g]++;
        }
        float[] w = new float[pairGroup.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = 1f / perGroup[pairGroup[i]];
        }
        return w;
    }

    /**
     * Per row, where a reward model reads its score: the last token that is not {@code pad}, as transformers'
     * {@code ...ForSequenceClassification} finds it with config.json's pad_token_id. When a checkpoint has no pad
     * token, pad is eos, and the score is read before the reply's closing eos, in training and in an exported model
     * alike.
     */
    public int[] scoreIndex(int pad) {
        int[] out = new int[rows];
        for (int r = 0; r < rows; r++) {
            out[r] = lastNonPad(sequences, r * blockSize, lastIndex[r] + 1, pad);
        }
        return out;
    }

    /** The index (from {@code from}) of the last of {@code length} ids that is not {@code pad}; 0 if all are. */
    public static int lastNonPad(long[] ids, int from, int length, long pad) {
        int i = length - 1;
        while (i > 0 && ids[from + i] == pad) {
            i--;
        }
        return i;
    }

    /** The longest row's used width (last index + 1). */
    public int usedWidth() {
        int used = 1;
        for (int i : lastIndex) {
            used = Math.max(used, i + 1);
        }
        return used;
    }

    /**
     * The same batch cut to {@code width} columns (only padding may be cut: width &gt;= {@link #usedWidth()}), to save
     * compute on short rows. Rewards are unchanged: a causal model's output at {@code lastIndex} does not depend on
     * later positions.
     */
    public PreferenceBatch narrowed(int width) {
        if (width < usedWidth() || width > blockSize) {
            throw new IllegalArgumentException("width must be in " + usedWidth() + ".." + blockSize + ", got " + width);
        }
        if (width == blockSize) {
            return this;
        }
        long[] seq = new long[rows * width];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(sequences, r * blockSize, seq, r * width, width);
        }
        return new PreferenceBatch(rows, width, seq, lastIndex, replyStart, chosenRow, rejectedRow, margin, pairGroup,
                groups);
    }

    /** Content equality, which is what exact resume relies on. */
    @Override
    public boolean equals(Object o) {
        return o instanceof PreferenceBatch b && b.rows == rows && b.blockSize == blockSize && b.groups == groups
                && Arrays.equals(b.sequences, sequences) && Arrays.equals(b.lastIndex, lastIndex)
                && Arrays.equals(b.replyStart, replyStart)
                && Arrays.equals(b.chosenRow, chosenRow) && Arrays.equals(b.rejectedRow, rejectedRow)
                && Arrays.equals(b.margin, margin) && Arrays.equals(b.pairGroup, pairGroup);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * rows + blockSize) + Arrays.hashCode(sequences) * 17 + Arrays.hashCode(chosenRow)
                + 7 * Arrays.hashCode(rejectedRow) + Arrays.hashCode(margin);
    }

    @Override
    public String toString() {
        return "PreferenceBatch[" + rows + "x" + blockSize + ", " + pairs() + " pairs from " + groups + " groups]";
    }
}
