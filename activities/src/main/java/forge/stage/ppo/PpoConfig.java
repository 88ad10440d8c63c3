package forge.stage.ppo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.config.ConfigNode;
import forge.errors.BadInputException;
import forge.optim.AdamWConfig;
import forge.rollout.RolloutPrompts;
import forge.rollout.RolloutSpec;
import forge.train.CheckpointSpec;
import forge.train.ConfigSections;
import forge.train.TrainSpec;
import forge.workflow.StageSpec;

import java.util.List;

/**
 * The PPO stage's config, read strictly from the spec's {@code stages.ppo} object. Defaults follow TRL's PPO
 * trainer (REFERENCES.md): β 0.05 fixed, clip 0.2 / 0.2, value coefficient 0.1, γ 1, λ 0.95, 4 epochs, rewards
 * normalised and clipped at ±5 as DeepSpeed-Chat does. One {@code train} step is one PPO iteration: a rollout of
 * {@code train.batch_size} prompts, then {@code ppo.epochs} passes over {@code ppo.mini_batches} mini-batches of it.
 *
 * @param initFrom    the policy to start from (and the frozen reference): an SFT checkpoint; defaults to this run's
 *                    sft output
 * @param rewardFrom  the reward model; defaults to this run's reward output
 * @param critic      {@code reward}: a separate value model initialised from the reward model (DeepSpeed-Chat,
 *                    TRL); {@code policy_head}: a fresh value head on the policy's trunk, sharing it
 * @param data        the prompts: training, held-out, and what to do with ones too long for the context
 */
public record PpoConfig(long seed, boolean cache, String initFrom, String rewardFrom, Critic critic,
                        RolloutPrompts.Data data, TrainSpec train, AdamWConfig optimizer, RolloutSpec rollout,
                        Objective objective, Kl kl, Monitors monitors, int evalInterval, int evalPrompts,
                        CheckpointSpec checkpoint, int sampleCount, ObjectNode resolved) {

    public enum Critic { REWARD, POLICY_HEAD }

    /**
     * @param missingEosPenalty subtracted from the (normalised) score of a response that never ends its turn; 0 is off
     */
    public record Objective(int epochs, int miniBatches, double clipRange, double valueClipRange, double vfCoef,
                            double gamma, double lambda, boolean whitenAdvantages, boolean normalizeReward,
                            double rewardClip, double missingEosPenalty) {}

    public record Kl(double coef, boolean adaptive, double target, double horizon) {}

    /**
     * Reward-hacking alarms, checked at each evaluation against the SFT policy's figures: mean response length
     * above {@code lengthRatio} times the start's, held-out KL to the reference above {@code kl}, and (on demo data)
     * the reward model's gain exceeding the ground truth's by more than {@code rewardGap} standard deviations.
     */
    public record Monitors(double lengthRatio, double kl, double rewardGap) {}

    public static PpoConfig parse(JsonNode json) {
        ConfigNode root = new ConfigNode("", json);
        root.allow(StageSpec.ORCHESTRATION_KEYS);
        root.allow(List.of("seed", "cache", "init_from", "reward_from", "critic", "data", "rollout", "ppo", "reward",
                "kl", "monitors", "train", "eval", "checkpoint", "sample"));
        root.finish();
        long seed = root.longValue("seed", 1337);
        boolean cache = root.bool("cache", true);
        String initFrom = ConfigSections.initFrom(root);
        String rewardFrom = root.text("reward_from", null);
        if (rewardFrom != null && !rewardFrom.startsWith("s3://")) {
            throw BadInputException.field("reward_from", "must be an s3:// checkpoint directory, got \"" + rewardFrom + "\"");
        }
        String criticText = root.text("critic", "reward");
        Critic critic = switch (criticText) {
            case "reward" -> Critic.REWARD;
            case "policy_head" -> Critic.POLICY_HEAD;
            default -> throw BadInputException.field("critic", "must be reward or policy_head, got \"" + criticText + "\"");
        };

        RolloutPrompts.Data data = RolloutPrompts.Data.parse(root);
        RolloutSpec rollout = RolloutSpec.parse(root);

        ConfigNode p = root.child("ppo");
        int epochs = p.integer("epochs", 4), miniBatches = p.integer("mini_batches", 4);
        double clip = p.number("clip_range", 0.2), vclip = p.number("value_clip_range", 0.2);
        double vf = p.number("vf_coef", 0.1), gamma = p.number("gamma", 1.0), lambda = p.number("lam", 0.95);
        boolean whiten = p.bool("whiten_advantages", true);
        p.finish();
        ConfigNode rw = root.child("reward");
        boolean normalize = rw.bool("normalize", true);
        double rewardClip = rw.number("clip", 5.0), eosPenalty = rw.number("missing_eos_penalty", 0.0);
        rw.finish();
        Objective objective = new Objective(epochs, miniBatches, clip, vclip, vf, gamma, lambda, whiten, normalize,
                rewardClip, eosPenalty);
        positive("ppo.epochs", epochs);
        positive("ppo.mini_batches", miniBatches);
        positive("ppo.clip_range", clip);
        positive("ppo.value_clip_range", vclip);
        positive("reward.clip", rewardClip);
        nonNegative("ppo.vf_coef", vf);
        nonNegative("reward.missing_eos_penalty", eosPenalty);
        unit("ppo.gamma", gamma);
        unit("ppo.lam", lambda);

        ConfigNode k = root.child("kl");
        Kl kl = new Kl(k.number("coef", 0.05), k.bool("adaptive", false), k.number("target", 6.0),
                k.number("horizon", 10000));
        k.finish();
        nonNegative("kl.coef", kl.coef());
        positive("kl.target", kl.target());
        positive("kl.horizon", kl.horizon());

        ConfigNode m = root.child("monitors");
        Monitors monitors = new Monitors(m.number("response_length_ratio", 2.0), m.number("kl", 20.0),
                m.number("reward_gap", 1.0));
        m.finish();
        positive("monitors.response_length_ratio", monitors.lengthRatio());
        positive("monitors.kl", monitors.kl());
        positive("monitors.reward_gap", monitors.rewardGap());

        ConfigSections.Train train = ConfigSections.train(root,
                new ConfigSections.TrainDefaults(100, 32, 1e-5, 1e-5, 0, 0.0));
        train.spec().requireNoActivationCheckpointing("ppo");
        if (train.spec().precision() == forge.model.Precision.FP16) {
            // Policy and critic losses share one backward but not one optimizer, so one loss scale cannot be
            // unscaled by both; until they do, fp16 PPO would train the critic on scaled gradients.
            throw BadInputException.field("train.precision", "fp16 is not supported by the ppo stage yet (its "
                    + "policy and critic share one backward but have separate optimizers); use fp32");
        }
        if (train.spec().gradAccumSteps() != 1) {
            throw BadInputException.field("train.grad_accum_steps", "PPO updates on ppo.mini_batches of each rollout "
                    + "instead; leave it at 1");
        }
        if (train.spec().batchSize() < miniBatches) {
            throw BadInputException.field("ppo.mini_batches", miniBatches + " mini-batches need train.batch_size >= "
                    + miniBatches + " prompts per rollout, got " + train.spec().batchSize());
        }
        ConfigNode e = root.child("eval");
        int evalInterval = e.integer("interval", 10), evalPrompts = e.integer("prompts", 100);
        e.finish();
        positive("eval.interval", evalInterval);
        positive("eval.prompts", evalPrompts);
        CheckpointSpec checkpoint = ConfigSections.checkpoint(root);
        ConfigNode s = root.child("sample");
        int sampleCount = s.integer("count", 4);
        s.finish();
        if (sampleCount < 0) {
            throw BadInputException.field("sample.count", "must be >= 0, got " + sampleCount);
        }
        return new PpoConfig(seed, cache, initFrom, rewardFrom, critic, data, train.spec(), train.optimizer(), rollout, objective, kl, monitors, evalInterval, evalPrompts,
                checkpoint, sampleCount, root.resolved());
    }

    private static void positive(String field, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw BadInputException.field(field, "must be > 0, got " + v);
        }
    }

    private static void nonNegative(String field, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw BadInputException.field(field, "must be >= 0, got " + v);
        }
    }

    private static void unit(String field, double v) {
        if (!(v >= 0 && v <= 1)) {
            throw BadInputException.field(field, "must be in [0, 1], got " + v);
        }
    }
}
