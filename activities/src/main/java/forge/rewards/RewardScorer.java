package forge.rewards;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import forge.chat.TruncationPolicy;
import forge.checkpoint.CheckpointStore;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.preference.PreferenceEncoder;
import forge.tokenizer.Tokenizer;
import forge.train.ParentModel;

import java.util.Arrays;

/**
 * A trained reward model loaded from its checkpoint, scoring (prompt, response) pairs exactly as the stage did:
 * {@link PreferenceEncoder#sequence}'s layout, the score read at the closing {@code <|end|>}.
 */
public final class RewardScorer implements AutoCloseable {
    private final NDManager manager;
    private final Gpt model;
    private final PreferenceEncoder encoder;
    private final double mean;
    private final double std;

    private RewardScorer(NDManager manager, Gpt model, Tokenizer tokenizer, double mean, double std) {
        this.manager = manager;
        this.model = model;
        this.encoder = new PreferenceEncoder(tokenizer, model.config().blockSize(), TruncationPolicy.DEFAULT);
        this.mean = mean;
        this.std = std;
    }

    /** @param uri a reward stage's checkpoint directory, normally its {@code final/} */
    public static RewardScorer load(CheckpointStore reader, String uri) {
        ParentModel m = ParentModel.load(reader, uri);
        if (!m.weights().containsKey("score.weight")) {
            throw new BadInputException(uri + " is not a reward model: it has no score.weight");
        }
        RewardStats stats = RewardStats.of(m.checkpoint());
        NDManager manager = NDManager.newBaseManager();
        Gpt model = Gpt.create(manager, m.config(), 0);
        model.addScoreHead(0);
        m.loadInto(model);
        return new RewardScorer(manager, model, m.tokenizer(), stats.mean(), stats.std());
    }

    /** The raw reward of one response to a single-turn prompt. */
    public double score(String prompt, String response) {
        long[] ids = Arrays.stream(encoder.sequence(prompt, response)).asLongStream().toArray();
        try (NDScope scope = new NDScope()) {
            float[] scores = model.scores(manager.create(ids, new Shape(1, ids.length)), false).toFloatArray();
            return scores[scores.length - 1];
        }
    }

    /** Held-out reward mean and standard deviation stored with the model; PPO normalises with them. */
    public double mean() {
        return mean;
    }

    public double std() {
        return std;
    }

    @Override
    public void close() {
        model.close();
        manager.close();
    }
}
