package forge.train;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.sft.SftEncoder;
import forge.storage.S3Uri;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;

import java.io.IOException;
import java.util.Arrays;

/**
 * A trained reward model loaded from its checkpoint, scoring (prompt, response) pairs exactly as the stage did:
 * the chat layout, the score read at the closing {@code <|end|>}, the prompt cut from the left if it must be.
 */
public final class RewardScorer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final NDManager manager;
    private final Gpt model;
    private final Tokenizer tokenizer;
    private final double mean;
    private final double std;

    private RewardScorer(NDManager manager, Gpt model, Tokenizer tokenizer, double mean, double std) {
        this.manager = manager;
        this.model = model;
        this.tokenizer = tokenizer;
        this.mean = mean;
        this.std = std;
    }

    /** @param uri a reward stage's checkpoint directory, normally its {@code final/} */
    public static RewardScorer load(CheckpointStore reader, String uri) {
        ParentModel m = ParentModel.load(reader, uri);
        if (!m.weights().containsKey("score.weight")) {
            throw new BadInputException(uri + " is not a reward model: it has no score.weight");
        }
        LoadedCheckpoint c = reader.loadRequired(S3Uri.parse(m.uri()));
        double mean = 0;
        double std = 1;
        if (c.optionalFile(RewardStage.STATS_FILE).isPresent()) {
            try {
                JsonNode stats = JSON.readTree(c.file(RewardStage.STATS_FILE));
                mean = stats.path("mean").asDouble(0);
                std = stats.path("std").asDouble(1);
            } catch (IOException e) {
                throw new BadInputException(uri + ": unreadable " + RewardStage.STATS_FILE + ": " + e.getMessage(), e);
            }
        }
        NDManager manager = NDManager.newBaseManager();
        Gpt model = Gpt.create(manager, m.config(), 0);
        model.addScoreHead(0);
        m.loadInto(model);
        return new RewardScorer(manager, model, m.tokenizer(), mean, std);
    }

    /** The raw reward of one response to a single-turn prompt. */
    public double score(String prompt, String response) {
        int block = model.config().blockSize();
        int[] reply = tokenizer.encode(response);
        if (reply.length + 2 > block) {
            throw new BadInputException("the response has " + reply.length + " tokens; with <|end|> and a prompt it "
                    + "does not fit the model's block_size of " + block);
        }
        int[] context = SftEncoder.prompt(tokenizer, prompt, block - reply.length - 1);
        int[] seq = Arrays.copyOf(context, context.length + reply.length + 1);
        System.arraycopy(reply, 0, seq, context.length, reply.length);
        seq[seq.length - 1] = tokenizer.id(SpecialToken.END_OF_TURN);
        long[] ids = Arrays.stream(seq).asLongStream().toArray();
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
