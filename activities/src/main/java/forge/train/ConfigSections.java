package forge.train;

import forge.config.ConfigNode;
import forge.data.SourceSpec;
import forge.errors.BadInputException;
import forge.model.Precision;
import forge.optim.AdamWConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * The config sections every training stage shares (train, eval, checkpoint, sample), read the same way and with
 * the same keys; each stage passes its own defaults. Each section is read whole and checked for unknown keys before
 * its values are judged: a misspelt key is the likelier cause of a strange value, so it is the error to report first.
 */
public final class ConfigSections {
    private ConfigSections() {}

    /** nanoGPT's defaults scaled to a stage: what changes between stages is the step count and learning rate. */
    public record TrainDefaults(long maxSteps, int batchSize, double learningRate, double minLr, int warmupSteps,
                         double weightDecay) {}

    public record Train(TrainSpec spec, AdamWConfig optimizer) {}

    public static Train train(ConfigNode root, TrainDefaults d) {
        ConfigNode tr = root.child("train");
        long maxSteps = tr.longValue("max_steps", d.maxSteps());
        int batchSize = tr.integer("batch_size", d.batchSize()), accum = tr.integer("grad_accum_steps", 1);
        double lr = tr.number("learning_rate", d.learningRate()), minLr = tr.number("min_lr", d.minLr());
        int warmup = tr.integer("warmup_steps", (int) Math.min(d.warmupSteps(), maxSteps));
        int decay = tr.integer("lr_decay_steps", (int) Math.min(Integer.MAX_VALUE, Math.max(maxSteps, warmup)));
        double beta1 = tr.number("beta1", 0.9), beta2 = tr.number("beta2", 0.99), eps = tr.number("eps", 1e-8);
        double weightDecay = tr.number("weight_decay", d.weightDecay()), gradClip = tr.number("grad_clip", 1.0);
        // These three are read (and so resolved) only when set: an fp32 spec resolves as it did before precision existed, so its
        // checkpoints still resume and its cache key still matches. fp32 export by default whatever the precision:
        // the masters are fp32, so it is lossless; bf16 export halves final/ when asked.
        Precision precision = tr.has("precision")
                ? Precision.parse("train.precision", tr.text("precision", "fp32")) : Precision.FP32;
        Precision exportDtype = tr.has("export_dtype")
                ? Precision.parse("train.export_dtype", tr.text("export_dtype", "fp32")) : Precision.FP32;
        boolean checkpointing = tr.has("activation_checkpointing") && tr.bool("activation_checkpointing", false);
        tr.finish();
        return new Train(new TrainSpec(maxSteps, batchSize, accum, precision, exportDtype, checkpointing),
                new AdamWConfig(lr, minLr, warmup, decay, beta1, beta2, eps, weightDecay, gradClip,
                        precision == Precision.FP16));
    }

    /**
     * init_from: what a stage starts from instead of the previous stage's output: a Forge checkpoint directory
     * ({@code s3://.../final/}), or a Hugging Face checkpoint directory, {@code {hf: <local dir | s3://prefix>}},
     * returned as {@link ParentModel#HF} followed by the directory. A local directory is read on the worker.
     */
    public static String initFrom(ConfigNode root) {
        if (root.isObject("init_from")) {
            ConfigNode n = root.child("init_from");
            String hf = n.text("hf");
            n.finish();
            if (hf.isBlank()) {
                throw BadInputException.field("init_from.hf", "must name a Hugging Face checkpoint directory (a local "
                        + "path on the worker, or an s3:// prefix)");
            }
            return ParentModel.HF + hf;
        }
        String initFrom = root.text("init_from", null);
        if (initFrom != null && !initFrom.startsWith("s3://")) {
            throw BadInputException.field("init_from", "must be an s3:// checkpoint directory or {hf: <dir>} for a "
                    + "Hugging Face checkpoint, got \"" + initFrom + "\"");
        }
        return initFrom;
    }

    /** data.sources: at least one {path, weight, format, field}. */
    public static List<SourceSpec> sources(List<ConfigNode> nodes) {
        List<SourceSpec> sources = new ArrayList<>();
        for (int i = 0; i < nodes.size(); i++) {
            ConfigNode s = nodes.get(i);
            String path = s.text("path", null);
            double weight = s.number("weight", 1.0);
            String format = s.text("format", "auto");
            String field = s.text("field", "text");
            s.finish();
            sources.add(SourceSpec.at(i, path, weight, format, field));
        }
        if (sources.isEmpty()) {
            throw BadInputException.field("data.sources", "needs at least one source");
        }
        return sources;
    }

    public static EvalSpec eval(ConfigNode root, int interval, int batches) {
        ConfigNode e = root.child("eval");
        int evalInterval = e.integer("interval", interval), evalBatches = e.integer("batches", batches);
        e.finish();
        return new EvalSpec(evalInterval, evalBatches);
    }

    public static CheckpointSpec checkpoint(ConfigNode root) {
        ConfigNode c = root.child("checkpoint");
        int steps = c.integer("interval_steps", 500);
        double seconds = c.number("interval_seconds", 300);
        int keepLast = c.integer("keep_last", 3);
        // Its default stays out of the resolved config: it changes files, not training, and a run checkpointed before
        // the key existed must still match its own config when it resumes.
        int shardSizeMb = c.has("shard_size_mb") ? c.integer("shard_size_mb", CheckpointSpec.DEFAULT_SHARD_SIZE_MB)
                : CheckpointSpec.DEFAULT_SHARD_SIZE_MB;
        c.finish();
        return new CheckpointSpec(steps, seconds, keepLast, shardSizeMb);
    }

    public static SampleSpec sample(ConfigNode root, int count, int maxNewTokens, String prompt, double temperature) {
        ConfigNode s = root.child("sample");
        int n = s.integer("count", count), maxNew = s.integer("max_new_tokens", maxNewTokens);
        int topK = s.integer("top_k", 20);
        double t = s.number("temperature", temperature);
        String p = s.text("prompt", prompt);
        s.finish();
        return new SampleSpec(n, maxNew, t, topK, p);
    }
}
