package forge.preference;

import forge.data.EpochOrder;
import forge.errors.BadInputException;
import forge.tokenizer.SpecialToken;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Draws reward-model batches of whole {@link EncodedGroup}s: all responses and pairs of a prompt are always in the
 * same batch. A training batch is a pure function of (seed, step, micro) and the fixed arguments (groups, blockSize,
 * microBatches, groupsPerBatch): no cursor to save, resume is exact.
 *
 * <p><b>Order.</b> As {@link forge.stage.sft.SftBatchSampler} does with rows: training walks the groups in epochs, each
 * epoch a fresh seeded permutation, so every group is seen once per epoch. Group {@code r} of micro-batch
 * {@code micro} of step {@code step} has the global number {@code (step * microBatches + micro) * groupsPerBatch + r},
 * its epoch that divided by {@link #groupsPerEpoch()}. microBatches and groupsPerBatch must stay the same for the whole
 * run. A batch's row count is the sum of its groups' response counts, so it varies when groups differ in size.
 */
public final class PreferenceBatchSampler {
    private static final long EPOCH = 0x4E3_E90CL;
    private final EpochOrder order;

    private final List<EncodedGroup> groups;
    private final int blockSize;
    private final int pad;

    /** Padding with Forge's own {@link SpecialToken#PAD}. */
    public PreferenceBatchSampler(List<EncodedGroup> groups, int blockSize, long seed) {
        this(groups, blockSize, seed, SpecialToken.PAD.id());
    }

    /** @param pad the tokenizer's pad id ({@code tokenizer.id(SpecialToken.PAD)}), what rows are padded with */
    public PreferenceBatchSampler(List<EncodedGroup> groups, int blockSize, long seed, int pad) {
        if (blockSize < 1) {
            throw BadInputException.field("model.block_size", "must be >= 1, got " + blockSize);
        }
        if (groups.isEmpty()) {
            throw new BadInputException("reward: no preference groups (all were skipped as too long, or the data is "
                    + "empty)");
        }
        for (int i = 0; i < groups.size(); i++) {
            if (groups.get(i).maxLength() > blockSize) {
                throw new IllegalArgumentException("group " + i + " has a sequence of " + groups.get(i).maxLength()
                        + " tokens, more than block_size = " + blockSize + "; encode with PreferenceEncoder");
            }
        }
        this.groups = List.copyOf(groups);
        this.blockSize = blockSize;
        this.pad = pad;
        this.order = new EpochOrder(this.groups.size(), seed, EPOCH);
    }

    public int blockSize() {
        return blockSize;
    }

    /** Groups (prompts) in one pass over the data. */
    public int groupsPerEpoch() {
        return groups.size();
    }

    /** Epochs completed after {@code steps} optimizer steps, as a fraction; for progress reporting. */
    public double epochs(long steps, int microBatches, int groupsPerBatch) {
        return (double) steps * microBatches * groupsPerBatch / groups.size();
    }

    /**
     * Micro-batch {@code micro} (0..microBatches-1) of optimizer step {@code step}: {@code groupsPerBatch} groups;
     * identical on every call, process and machine.
     */
    public PreferenceBatch train(long step, int micro, int microBatches, int groupsPerBatch) {
        if (step < 0 || micro < 0 || micro >= microBatches) {
            throw new IllegalArgumentException("need step >= 0 and 0 <= micro < microBatches, got step " + step
                    + ", micro " + micro + ", microBatches " + microBatches);
        }
        requireGroups(groupsPerBatch);
        long first = (step * microBatches + micro) * (long) groupsPerBatch;
        List<EncodedGroup> picked = new ArrayList<>(groupsPerBatch);
        for (int r = 0; r < groupsPerBatch; r++) {
            long g = first + r;
            picked.add(groups.get(order.item(g)));
        }
        return fill(picked);
    }

    /**
     * Every group once, in input order, {@code groupsPerBatch} per batch (the last batch may have fewer), for
     * evaluation (use a sampler over the validation groups).
     */
    public List<PreferenceBatch> sequential(int groupsPerBatch) {
        requireGroups(groupsPerBatch);
        List<PreferenceBatch> out = new ArrayList<>();
        for (int start = 0; start < groups.size(); start += groupsPerBatch) {
            out.add(fill(groups.subList(start, Math.min(groups.size(), start + groupsPerBatch))));
        }
        return out;
    }

    private PreferenceBatch fill(List<EncodedGroup> picked) {
        int rows = 0;
        int pairs = 0;
        for (EncodedGroup g : picked) {
            rows += g.sequences().size();
            pairs += g.pairs().size();
        }
        if ((long) rows * blockSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a batch of " + rows + " rows x " + blockSize + " is too large");
        }
        long[] seq = new long[rows * blockSize];
        Arrays.fill(seq, pad);
        int[] last = new int[rows];
        int[] replyStart = new int[rows];
        int[] chosen = new int[pairs];
        int[] rejected = new int[pairs];
        float[] margin = new float[pairs];
        int[] pairGroup = new int[pairs];
        int row = 0;
        int pair = 0;
        for (int gi = 0; gi < picked.size(); gi++) {
            EncodedGroup g = picked.get(gi);
            int base = row;
            for (int[] s : g.sequences()) {
                int at = row * blockSize;
                for (int t = 0; t < s.length; t++) {
                    seq[at + t] = s[t];
                }
                last[row] = s.length - 1;
                replyStart[row] = g.promptLength();
                row++;
            }
            for (PreferenceGroup.Pair p : g.pairs()) {
                chosen[pair] = base + p.chosen();
                rejected[pair] = base + p.rejected();
                margin[pair] = (float) p.margin();
                pairGroup[pair] = gi;
                pair++;
            }
        }
        return new PreferenceBatch(rows, blockSize, seq, last, replyStart, chosen, rejected, margin, pairGroup, picked.size());
    }

    private static void requireGroups(int groupsPerBatch) {
        if (groupsPerBatch < 1) {
            throw new IllegalArgumentException("groups per batch must be >= 1, got " + groupsPerBatch);
        }
    }
}
