package forge.rewards;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.rollout.RolloutBatch;
import forge.train.ParentModel;

import java.util.List;

/**
 * A frozen reward model scoring the policy's own token sequences (prompt then reply), read at each sequence's last
 * non-pad token (as the reward stage trained it and as transformers reads an exported seq-cls model) and normalised with the reward stage's held-out statistics: what PPO optimises and GRPO can weigh in.
 */
public final class RewardModel {
    private static final int ROWS = 64;
    private final Gpt model;
    private final RewardStats stats;
    private final NDManager manager;
    private final int pad;

    /** @param pad the tokenizer's pad id ({@code tokenizer.id(SpecialToken.PAD)}) */
    public RewardModel(Gpt model, RewardStats stats, NDManager manager, int pad) {
        this.model = model;
        this.stats = stats;
        this.manager = manager;
        this.pad = pad;
    }

    public Gpt model() {
        return model;
    }

    public RewardStats stats() {
        return stats;
    }

    NDManager manager() {
        return manager;
    }

    int pad() {
        return pad;
    }

    /** Normalised scores of whole sequences, read at each one's last non-pad token, in batches of up to 64. */
    public double[] normalised(List<int[]> seqs) {
        double[] out = new double[seqs.size()];
        for (int lo = 0; lo < seqs.size(); lo += ROWS) {
            List<int[]> chunk = seqs.subList(lo, Math.min(seqs.size(), lo + ROWS));
            int w = chunk.stream().mapToInt(s -> s.length).max().orElse(1);
            try (NDScope scope = new NDScope()) {
                float[] s = model.scores(RolloutBatch.padded(manager, chunk, w, pad), false).toFloatArray();
                for (int r = 0; r < chunk.size(); r++) {
                    int[] seq = chunk.get(r);
                    int last = seq.length - 1;
                    while (last > 0 && seq[last] == pad) {
                        last--;
                    }
                    out[lo + r] = stats.normalise(s[r * w + last]);
                }
            }
        }
        return out;
    }

    /**
     * A reward model reads the policy's token ids as they are: the two must share a tokenizer, and the reward model
     * must see as long a context.
     *
     * @param rewardField the config field that named the reward model, for the error
     */
    public static void requireCompatible(ParentModel policy, ParentModel reward, String rewardField, String stage) {
        if (!reward.weights().containsKey("score.weight")) {
            throw BadInputException.field(rewardField, reward.uri() + " is not a reward model: it has no score.weight");
        }
        if (policy.weights().containsKey("score.weight")) {
            throw BadInputException.field("init_from", policy.uri() + " is a reward model, not a policy (it has a "
                    + "score head); start " + stage + " from an SFT checkpoint");
        }
        if (!policy.tokenizer().toHuggingFaceJson().equals(reward.tokenizer().toHuggingFaceJson())) {
            throw new BadInputException("the policy " + policy.uri() + " and the reward model " + reward.uri()
                    + " use different tokenizers; the reward model must be trained from the same SFT lineage");
        }
        if (reward.config().blockSize() < policy.config().blockSize()) {
            throw new BadInputException("the reward model " + reward.uri() + " has block_size "
                    + reward.config().blockSize() + ", shorter than the policy's " + policy.config().blockSize());
        }
    }
}
