package forge.rollout;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import forge.chat.ChatEncoder;
import forge.demo.DemoWorld;
import forge.model.GenerationOptions;
import forge.model.Gpt;
import forge.tensor.EngineArrays;
import forge.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A policy's answers to held-out prompts, sampled as in rollouts with one fixed seed, so that every policy measured
 * (the SFT start, each evaluation, the end; PPO's, GRPO's and DPO's) is compared on the same draws. On demo data the
 * world's hidden rule grades them; the exact KL to a reference is measured on the same answers.
 */
public final class HeldOutAnswers {
    /** The seed every evaluation samples with. */
    public static final long SEED = 0x5eed;
    private static final int ROWS = 64;

    private final List<EncodedPrompt> prompts;
    private final GenerationOptions options;
    private final double temperature;
    private final Tokenizer tokenizer;
    private final DemoWorld world;
    private final NDManager manager;

    /** @param world the demo world that grades answers, or null when the data is real */
    public HeldOutAnswers(List<EncodedPrompt> prompts, RolloutSpec sampling, int stopToken, Tokenizer tokenizer,
                          DemoWorld world, NDManager manager) {
        this.prompts = List.copyOf(prompts);
        this.options = sampling.options(stopToken);
        this.temperature = sampling.temperature();
        this.tokenizer = tokenizer;
        this.world = world;
        this.manager = manager;
    }

    public List<EncodedPrompt> prompts() {
        return prompts;
    }

    public boolean graded() {
        return world != null;
    }

    /**
     * Sampled answers, graded where the world can.
     *
     * @param rounds        answers per prompt: row r answers prompt r mod prompts, in round r / prompts
     * @param sequences     prompt then reply
     * @param promptLengths per row
     * @param truth         per row, the hidden rule's score (NaN on real data)
     * @param correct       per row, whether the claimed answer is right (false on real data)
     */
    public record Answers(int rounds, List<int[]> sequences, int[] promptLengths, List<String> replies,
                          double[] truth, boolean[] correct, boolean graded) {
        public int size() {
            return sequences.size();
        }

        /** The index of the held-out prompt that row answers. */
        public int promptOf(int row) {
            return row % (size() / rounds);
        }

        /** Mean reply length in tokens ({@code <|end|>} included). */
        public double length() {
            double n = 0;
            for (int i = 0; i < size(); i++) {
                n += sequences.get(i).length - promptLengths[i];
            }
            return n / size();
        }

        public double truthMean() {
            double sum = 0;
            for (double t : truth) {
                sum += t;
            }
            return sum / size();
        }

        public double truthStd() {
            double mean = truthMean();
            double sq = 0;
            for (double t : truth) {
                sq += t * t;
            }
            return Math.sqrt(Math.max(0, sq / size() - mean * mean));
        }

        /** Fraction of answers that are right. */
        public double correctFraction() {
            int n = 0;
            for (boolean c : correct) {
                n += c ? 1 : 0;
            }
            return (double) n / size();
        }

        /** Fraction of prompts with at least one right answer among their {@link #rounds()}: pass@k. */
        public double passAtK() {
            int prompts = size() / rounds;
            int passed = 0;
            for (int p = 0; p < prompts; p++) {
                for (int j = 0; j < rounds; j++) {
                    if (correct[j * prompts + p]) {
                        passed++;
                        break;
                    }
                }
            }
            return (double) passed / prompts;
        }
    }

    /** One answer per prompt, with {@link #SEED}, in one batch. */
    public Answers sample(Gpt policy) {
        return sample(policy, 1);
    }

    /**
     * {@code rounds} answers to every prompt, one batch of all prompts per round; round j's row p samples with seed
     * {@link #SEED} + j · prompts + p, so round 0 is exactly {@link #sample(Gpt)}'s answers and pass@k counts them.
     */
    public Answers sample(Gpt policy, int rounds) {
        int n = prompts.size();
        int total = n * rounds;
        int[][] ids = new int[n][];
        int[] lengths = new int[total];
        for (int i = 0; i < total; i++) {
            ids[i % n] = prompts.get(i % n).ids();
            lengths[i] = ids[i % n].length;
        }
        List<int[]> seqs = new ArrayList<>(total);
        for (int j = 0; j < rounds; j++) {
            seqs.addAll(List.of(policy.generateBatch(ids, options, SEED + (long) j * n)));
        }
        List<String> replies = new ArrayList<>(total);
        double[] truth = new double[total];
        boolean[] correct = new boolean[total];
        for (int i = 0; i < total; i++) {
            String reply = ChatEncoder.reply(tokenizer, seqs.get(i), lengths[i]);
            replies.add(reply);
            if (world != null) {
                String q = prompts.get(i % n).prompt().lastUserTurn();
                truth[i] = world.score(q, reply);
                correct[i] = world.correct(q, reply);
            } else {
                truth[i] = Double.NaN;
            }
        }
        return new Answers(rounds, seqs, lengths, replies, truth, correct, world != null);
    }

    /**
     * Mean over answers of the exact KL(π ‖ π_ref) summed along each reply: Σ over the reply's positions of
     * Σ_v π(v)(log π(v) − log π_ref(v)) at the sampling temperature. 0 when the two are the same model.
     */
    public double exactKl(Gpt policy, Gpt reference, Answers answers) {
        if (policy == reference) {
            return 0;
        }
        List<int[]> seqs = answers.sequences();
        double total = 0;
        for (int lo = 0; lo < seqs.size(); lo += ROWS) {
            List<int[]> chunk = seqs.subList(lo, Math.min(seqs.size(), lo + ROWS));
            int w = chunk.stream().mapToInt(s -> s.length).max().orElse(1);
            if (w < 2) {
                continue;
            }
            float[] mask = new float[chunk.size() * (w - 1)];
            for (int r = 0; r < chunk.size(); r++) {
                int from = answers.promptLengths()[lo + r] - 1;
                for (int j = from; j < chunk.get(r).length - 1; j++) {
                    mask[r * (w - 1) + j] = 1;
                }
            }
            try (NDScope scope = new NDScope()) {
                NDArray idx = RolloutBatch.padded(manager, chunk, w, options.stopToken());
                NDArray lp = TokenLogProbs.actions(policy.forward(idx, false), temperature);
                NDArray lq = TokenLogProbs.actions(reference.forward(idx, false), temperature);
                NDArray perPosition = TokenLogProbs.exactKl(lp, lq);                              // (B, W-1)
                total += perPosition.mul(EngineArrays.of(manager, mask, new Shape(chunk.size(), w - 1)))
                        .sum().getFloat();
            }
        }
        return total / seqs.size();
    }
}
