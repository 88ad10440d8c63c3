package forge.stage.sft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.chat.TruncationPolicy;
import forge.config.ConfigNode;
import forge.data.SourceSpec;
import forge.errors.BadInputException;
import forge.model.LoraConfig;
import forge.optim.AdamWConfig;
import forge.train.CheckpointSpec;
import forge.train.ConfigSections;
import forge.train.EvalSpec;
import forge.train.SampleSpec;
import forge.train.TrainSpec;
import forge.workflow.StageSpec;

import java.util.List;
import java.util.Locale;

/**
 * The SFT stage's config, read strictly from the spec's {@code stages.sft} object. The model's shape and tokenizer
 * come from the parent checkpoint, so there is no model section.
 *
 * @param initFrom     a checkpoint directory to start from instead of the previous stage's output; required when
 *                     the spec starts at sft
 * @param method       full: every parameter trains (minus the bottom {@code freezeBlocks}); lora: only adapters
 * @param lora         the adapters when method is lora, else null
 * @param freezeBlocks full fine-tuning only: keep the embeddings and the bottom N blocks fixed
 * @param pack         pack several examples per row (attention never crosses examples) instead of one per row
 * @param taskEvalCount held-out demo-world questions answered before and after, 0 for none (or non-demo data)
 */
public record SftConfig(long seed, boolean cache, String initFrom, Method method, LoraConfig lora, int freezeBlocks,
                        List<SourceSpec> sources, double valFraction, TruncationPolicy truncation, boolean pack,
                        TrainSpec train, AdamWConfig optimizer, EvalSpec eval, int taskEvalCount,
                        int taskEvalMaxNewTokens, CheckpointSpec checkpoint, SampleSpec sample, ObjectNode resolved) {

    public enum Method { FULL, LORA }

    public static SftConfig parse(JsonNode json) {
        ConfigNode root = new ConfigNode("", json);
        root.allow(StageSpec.ORCHESTRATION_KEYS);
        root.allow(List.of("seed", "cache", "init_from", "method", "lora", "freeze_blocks", "data", "train", "eval",
                "task_eval", "checkpoint", "sample"));
        root.finish();
        long seed = root.longValue("seed", 1337);
        boolean cache = root.bool("cache", true);
        String initFrom = ConfigSections.initFrom(root);

        String methodText = root.text("method", "full");
        Method method;
        try {
            method = Method.valueOf(methodText.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw BadInputException.field("method", "must be full or lora, got \"" + methodText + "\"");
        }
        LoraConfig lora = null;
        if (method == Method.LORA || root.has("lora")) {
            ConfigNode l = root.child("lora");
            int rank = l.integer("rank", 8);
            double alpha = l.number("alpha", 16);
            List<String> targets = l.texts("targets", List.of("c_attn"));
            l.finish();
            if (method != Method.LORA) {
                throw BadInputException.field("lora", "is set but method is full; set method: lora to use adapters");
            }
            lora = new LoraConfig(rank, alpha, targets);
        }
        int freezeBlocks = root.integer("freeze_blocks", 0);
        if (freezeBlocks < 0) {
            throw BadInputException.field("freeze_blocks", "must be >= 0, got " + freezeBlocks);
        }
        if (freezeBlocks > 0 && method == Method.LORA) {
            throw BadInputException.field("freeze_blocks", "applies to method full only (LoRA already freezes every base weight)");
        }

        ConfigNode d = root.child("data");
        List<ConfigNode> sourceNodes = d.list("sources");
        double valFraction = d.number("val_fraction", 0.1);
        TruncationPolicy truncation = TruncationPolicy.parse(d.text("truncation", "truncate_prompt_left"), "data.truncation");
        boolean pack = d.bool("pack", false);
        d.finish();
        List<SourceSpec> sources = ConfigSections.sources(sourceNodes);
        if (valFraction <= 0 || valFraction >= 1) {
            throw BadInputException.field("data.val_fraction", "must be in (0, 1), got " + valFraction);
        }

        // Adapters start at zero and move only a few weights, so LoRA wants a larger step than full fine-tuning.
        double lr = method == Method.LORA ? 2e-3 : 3e-4;
        ConfigSections.Train train = ConfigSections.train(root,
                new ConfigSections.TrainDefaults(300, 16, lr, lr / 10, 30, 0.0));
        EvalSpec eval = ConfigSections.eval(root, 100, 20);

        ConfigNode t = root.child("task_eval");
        int taskCount = t.integer("count", 100);
        int taskMaxNew = t.integer("max_new_tokens", 48);
        t.finish();
        if (taskCount < 0) {
            throw BadInputException.field("task_eval.count", "must be >= 0, got " + taskCount);
        }
        if (taskMaxNew <= 0) {
            throw BadInputException.field("task_eval.max_new_tokens", "must be > 0, got " + taskMaxNew);
        }

        CheckpointSpec checkpoint = ConfigSections.checkpoint(root);
        SampleSpec sample = ConfigSections.sample(root, 3, 64, "", 0.0);
        return new SftConfig(seed, cache, initFrom, method, lora, freezeBlocks, sources, valFraction, truncation, pack,
                train.spec(), train.optimizer(), eval, taskCount, taskMaxNew, checkpoint, sample, root.resolved());
    }
}
