package forge.stage.reward;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.chat.TruncationPolicy;
import forge.config.ConfigNode;
import forge.data.SourceSpec;
import forge.errors.BadInputException;
import forge.optim.AdamWConfig;
import forge.train.CheckpointSpec;
import forge.train.ConfigSections;
import forge.train.EvalSpec;
import forge.train.TrainSpec;
import forge.workflow.StageSpec;

import java.util.List;

/**
 * The reward-model stage's config, read strictly from the spec's {@code stages.reward} object. The trunk's shape
 * and tokenizer come from the parent checkpoint (normally the SFT stage's output).
 *
 * @param initFrom     a checkpoint directory to start from instead of the previous stage's output
 * @param freezeBlocks keep the embeddings and the bottom N blocks fixed
 * @param train        batch_size counts prompts (groups of compared responses), not pairs
 */
public record RewardConfig(long seed, boolean cache, String initFrom, int freezeBlocks, List<SourceSpec> sources,
                           double valFraction, TruncationPolicy truncation, TrainSpec train, AdamWConfig optimizer,
                           EvalSpec eval, CheckpointSpec checkpoint, int sampleCount, ObjectNode resolved) {

    public static RewardConfig parse(JsonNode json) {
        ConfigNode root = new ConfigNode("", json);
        root.allow(StageSpec.ORCHESTRATION_KEYS);
        root.allow(List.of("seed", "cache", "init_from", "freeze_blocks", "data", "train", "eval", "checkpoint",
                "sample"));
        root.finish();
        long seed = root.longValue("seed", 1337);
        boolean cache = root.bool("cache", true);
        String initFrom = ConfigSections.initFrom(root);
        int freezeBlocks = root.integer("freeze_blocks", 0);
        if (freezeBlocks < 0) {
            throw BadInputException.field("freeze_blocks", "must be >= 0, got " + freezeBlocks);
        }

        ConfigNode d = root.child("data");
        List<ConfigNode> sourceNodes = d.list("sources");
        double valFraction = d.number("val_fraction", 0.1);
        TruncationPolicy truncation = TruncationPolicy.parse(d.text("truncation", "truncate_prompt_left"), "data.truncation");
        d.finish();
        List<SourceSpec> sources = ConfigSections.sources(sourceNodes);
        if (valFraction <= 0 || valFraction >= 1) {
            throw BadInputException.field("data.val_fraction", "must be in (0, 1), got " + valFraction);
        }

        ConfigSections.Train train = ConfigSections.train(root,
                new ConfigSections.TrainDefaults(300, 8, 3e-4, 3e-5, 30, 0.0));
        train.spec().requireNoActivationCheckpointing("reward");
        EvalSpec eval = ConfigSections.eval(root, 100, 20);
        CheckpointSpec checkpoint = ConfigSections.checkpoint(root);
        ConfigNode s = root.child("sample");
        int sampleCount = s.integer("count", 3);
        s.finish();
        if (sampleCount < 0) {
            throw BadInputException.field("sample.count", "must be >= 0, got " + sampleCount);
        }
        return new RewardConfig(seed, cache, initFrom, freezeBlocks, sources, valFraction, truncation, train.spec(),
                train.optimizer(), eval, checkpoint, sampleCount, root.resolved());
    }
}
