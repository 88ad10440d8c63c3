package forge.stage.dpo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.chat.TruncationPolicy;
import forge.config.ConfigNode;
import forge.data.SourceSpec;
import forge.errors.BadInputException;
import forge.optim.AdamWConfig;
import forge.rollout.RolloutSpec;
import forge.train.CheckpointSpec;
import forge.train.ConfigSections;
import forge.train.EvalSpec;
import forge.train.TrainSpec;
import forge.workflow.StageSpec;

import java.util.List;
import java.util.Locale;

/**
 * The DPO stage's config, read strictly from the spec's {@code stages.dpo} object. The data section is the reward
 * stage's (the same pair formats, split the same way for the same seed and val_fraction, so both are measured on the
 * same held-out pairs), plus optional held-out {@code questions} that the policy answers before and after training,
 * sampled with the {@code rollout} settings: on demo data the world's hidden rule grades them. Defaults follow TRL's
 * DPOTrainer: β = 0.1, the sigmoid loss.
 *
 * @param initFrom    the policy to start from, which is also the frozen reference: an SFT checkpoint; defaults to
 *                    this run's sft output
 * @param questions   prompt sources ({"prompt"|"messages"}) to answer before and after; empty to skip that
 * @param train       batch_size counts prompts (groups of compared responses), not pairs
 * @param evalPrompts how many of the questions are answered
 */
public record DpoConfig(long seed, boolean cache, String initFrom, List<SourceSpec> sources, double valFraction,
                        TruncationPolicy truncation, List<SourceSpec> questions, double beta, DpoLoss.Kind loss,
                        RolloutSpec rollout, TrainSpec train, AdamWConfig optimizer, EvalSpec eval, int evalPrompts,
                        CheckpointSpec checkpoint, int sampleCount, ObjectNode resolved) {

    public static DpoConfig parse(JsonNode json) {
        ConfigNode root = new ConfigNode("", json);
        root.allow(StageSpec.ORCHESTRATION_KEYS);
        root.allow(List.of("seed", "cache", "init_from", "data", "dpo", "rollout", "train", "eval", "checkpoint",
                "sample"));
        root.finish();
        long seed = root.longValue("seed", 1337);
        boolean cache = root.bool("cache", true);
        String initFrom = ConfigSections.initFrom(root);

        ConfigNode d = root.child("data");
        List<ConfigNode> sourceNodes = d.list("sources");
        List<ConfigNode> questionNodes = d.has("questions") ? d.list("questions") : List.of();
        double valFraction = d.number("val_fraction", 0.1);
        TruncationPolicy truncation = TruncationPolicy.parse(d.text("truncation", "truncate_prompt_left"),
                "data.truncation");
        d.finish();
        List<SourceSpec> sources = ConfigSections.sources(sourceNodes);
        List<SourceSpec> questions = questionNodes.isEmpty() ? List.of() : ConfigSections.sources(questionNodes);
        if (valFraction <= 0 || valFraction >= 1) {
            throw BadInputException.field("data.val_fraction", "must be in (0, 1), got " + valFraction);
        }

        ConfigNode p = root.child("dpo");
        double beta = p.number("beta", 0.1);
        String lossText = p.text("loss", "sigmoid");
        p.finish();
        if (!(beta > 0) || Double.isInfinite(beta)) {
            throw BadInputException.field("dpo.beta", "must be > 0 (it scales the implicit reward β·log π/π_ref), got "
                    + beta);
        }
        DpoLoss.Kind loss = switch (lossText.toLowerCase(Locale.ROOT)) {
            case "sigmoid" -> DpoLoss.Kind.SIGMOID;
            case "ipo" -> DpoLoss.Kind.IPO;
            default -> throw BadInputException.field("dpo.loss", "must be sigmoid or ipo, got \"" + lossText + "\"");
        };
        RolloutSpec rollout = RolloutSpec.parse(root);

        ConfigSections.Train train = ConfigSections.train(root,
                new ConfigSections.TrainDefaults(300, 8, 5e-5, 5e-6, 30, 0.0));
        train.spec().requireNoActivationCheckpointing("dpo");
        ConfigNode e = root.child("eval");
        EvalSpec eval = new EvalSpec(e.integer("interval", 100), e.integer("batches", 20));
        int evalPrompts = e.integer("prompts", 200);
        e.finish();
        if (evalPrompts < 1) {
            throw BadInputException.field("eval.prompts", "must be >= 1, got " + evalPrompts);
        }
        CheckpointSpec checkpoint = ConfigSections.checkpoint(root);
        ConfigNode s = root.child("sample");
        int sampleCount = s.integer("count", 3);
        s.finish();
        if (sampleCount < 0) {
            throw BadInputException.field("sample.count", "must be >= 0, got " + sampleCount);
        }
        return new DpoConfig(seed, cache, initFrom, sources, valFraction, truncation, questions, beta, loss, rollout,
                train.spec(), train.optimizer(), eval, evalPrompts, checkpoint, sampleCount, root.resolved());
    }
}
