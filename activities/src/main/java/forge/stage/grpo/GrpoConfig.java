package forge.stage.grpo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.config.ConfigNode;
import forge.errors.BadInputException;
import forge.optim.AdamWConfig;
import forge.rewards.RewardSpec;
import forge.rollout.RolloutPrompts;
import forge.rollout.RolloutSpec;
import forge.train.CheckpointSpec;
import forge.train.ConfigSections;
import forge.train.TrainSpec;
import forge.workflow.StageSpec;

import java.util.List;
import java.util.Locale;

/**
 * The GRPO stage's config, read strictly from the spec's {@code stages.grpo} object. Defaults follow TRL's
 * GRPOTrainer: 8 completions per prompt, advantages scaled by the group's standard deviation, token-level loss
 * aggregation (DAPO's), clip range 0.2, β = 0 (no reference model held; DeepSeekMath used 0.04), one optimisation
 * pass per generation batch. One {@code train} step is one generation batch: {@code train.batch_size} prompts, each
 * answered {@code grpo.group_size} times, then {@code grpo.epochs} passes over {@code grpo.mini_batches} of it.
 *
 * @param initFrom   the policy to start from (and the frozen reference): an SFT checkpoint; defaults to this run's
 *                   sft output
 * @param rewardFrom the reward model a {@code reward_model} source reads; defaults to this run's reward output
 * @param klCoef     β of the per-token KL penalty (k3 estimator) to the reference; 0 holds no reference model
 * @param passAtK    0, or k: at the start and the end, sample k answers per held-out prompt and report the fraction
 *                   with at least one right (demo data): what RL can at best turn into single-sample accuracy
 */
public record GrpoConfig(long seed, boolean cache, String initFrom, String rewardFrom, RolloutPrompts.Data data,
                         RolloutSpec rollout, List<RewardSpec> rewards, Objective objective, double klCoef,
                         TrainSpec train, AdamWConfig optimizer, int evalInterval, int evalPrompts, int passAtK,
                         CheckpointSpec checkpoint, int sampleCount, ObjectNode resolved) {

    /** How a completion's per-token losses become the batch's loss. */
    public enum Aggregation {
        /** Σ over every completion token / their count: long answers weigh by their length (DAPO, TRL's default). */
        TOKEN,
        /** Each completion's mean over its tokens, then the mean over completions (the original GRPO). */
        SEQUENCE
    }

    /**
     * @param groupSize    G, completions sampled per prompt
     * @param scaleRewards divide each group's centred rewards by its standard deviation (GRPO); false keeps them
     *                     centred only (Dr. GRPO), which does not up-weight prompts the policy almost always gets
     *                     right or wrong
     * @param clipHigh     upper clip of the ratio, 1 + clipHigh; above clipLow is DAPO's clip-higher
     */
    public record Objective(int groupSize, int epochs, int miniBatches, double clipLow, double clipHigh,
                            boolean scaleRewards, Aggregation loss) {}

    public static GrpoConfig parse(JsonNode json) {
        ConfigNode root = new ConfigNode("", json);
        root.allow(StageSpec.ORCHESTRATION_KEYS);
        root.allow(List.of("seed", "cache", "init_from", "reward_from", "data", "rollout", "rewards", "grpo", "kl",
                "train", "eval", "checkpoint", "sample"));
        root.finish();
        long seed = root.longValue("seed", 1337);
        boolean cache = root.bool("cache", true);
        String initFrom = ConfigSections.initFrom(root);
        String rewardFrom = root.text("reward_from", null);
        if (rewardFrom != null && !rewardFrom.startsWith("s3://")) {
            throw BadInputException.field("reward_from", "must be an s3:// checkpoint directory, got \"" + rewardFrom
                    + "\"");
        }
        RolloutPrompts.Data data = RolloutPrompts.Data.parse(root);
        RolloutSpec rollout = RolloutSpec.parse(root);
        List<RewardSpec> rewards = RewardSpec.parseAll(root);

        ConfigNode g = root.child("grpo");
        int groupSize = g.integer("group_size", 8);
        int epochs = g.integer("epochs", 1);
        int miniBatches = g.integer("mini_batches", 1);
        double clip = g.number("clip_range", 0.2);
        double clipHigh = g.number("clip_range_high", clip);
        boolean scale = g.bool("scale_rewards", true);
        String lossText = g.text("loss", "token");
        g.finish();
        Aggregation loss = switch (lossText.toLowerCase(Locale.ROOT)) {
            case "token" -> Aggregation.TOKEN;
            case "sequence" -> Aggregation.SEQUENCE;
            default -> throw BadInputException.field("grpo.loss", "must be token or sequence, got \"" + lossText + "\"");
        };
        if (groupSize < 2) {
            throw BadInputException.field("grpo.group_size", "must be >= 2: advantages are relative to the group's "
                    + "other completions, got " + groupSize);
        }
        positive("grpo.epochs", epochs);
        positive("grpo.mini_batches", miniBatches);
        positive("grpo.clip_range", clip);
        positive("grpo.clip_range_high", clipHigh);
        if (clip >= 1) {
            throw BadInputException.field("grpo.clip_range", "must be < 1 (the ratio is clipped to [1 - clip_range, "
                    + "1 + clip_range_high]), got " + clip);
        }
        Objective objective = new Objective(groupSize, epochs, miniBatches, clip, clipHigh, scale, loss);

        ConfigNode k = root.child("kl");
        double klCoef = k.number("coef", 0.0);
        k.finish();
        if (!(klCoef >= 0)) {
            throw BadInputException.field("kl.coef", "must be >= 0 (0 = no KL penalty, no reference model), got "
                    + klCoef);
        }

        ConfigSections.Train train = ConfigSections.train(root,
                new ConfigSections.TrainDefaults(100, 16, 1e-6, 1e-6, 0, 0.0));
        train.spec().requireNoActivationCheckpointing("grpo");
        if (train.spec().gradAccumSteps() != 1) {
            throw BadInputException.field("train.grad_accum_steps", "GRPO updates on grpo.mini_batches of each "
                    + "generation batch instead; leave it at 1");
        }
        if (train.spec().batchSize() * groupSize < miniBatches) {
            throw BadInputException.field("grpo.mini_batches", miniBatches + " mini-batches need at least as many "
                    + "completions per step; train.batch_size · grpo.group_size is "
                    + train.spec().batchSize() * groupSize);
        }
        ConfigNode e = root.child("eval");
        int evalInterval = e.integer("interval", 10);
        int evalPrompts = e.integer("prompts", 100);
        int passAtK = e.integer("pass_at_k", 0);
        e.finish();
        positive("eval.interval", evalInterval);
        positive("eval.prompts", evalPrompts);
        if (passAtK < 0 || passAtK == 1) {
            throw BadInputException.field("eval.pass_at_k", "must be 0 (off) or >= 2, got " + passAtK);
        }
        CheckpointSpec checkpoint = ConfigSections.checkpoint(root);
        ConfigNode s = root.child("sample");
        int sampleCount = s.integer("count", 4);
        s.finish();
        if (sampleCount < 0) {
            throw BadInputException.field("sample.count", "must be >= 0, got " + sampleCount);
        }
        return new GrpoConfig(seed, cache, initFrom, rewardFrom, data, rollout, rewards, objective, klCoef,
                train.spec(), train.optimizer(), evalInterval, evalPrompts, passAtK, checkpoint, sampleCount,
                root.resolved());
    }

    private static void positive(String field, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw BadInputException.field(field, "must be > 0, got " + v);
        }
    }
}
