package forge.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.config.ConfigNode;
import forge.data.SourceSpec;
import forge.errors.BadInputException;
import forge.optim.AdamWConfig;
import forge.tokenizer.TokenizerConfig;
import forge.workflow.StageSpec;

import java.util.ArrayList;
import java.util.List;

/**
 * The pretraining stage's config, read strictly from the spec's {@code stages.pretrain} object. Model sizes use
 * nanoGPT's names; {@code vocab_size} comes from the tokenizer, so the model section does not name it.
 *
 * @param cache    reuse the output of an earlier run whose config and data hash the same (see StageCache)
 * @param resolved every value used, defaults included; written into every checkpoint
 */
public record PretrainConfig(long seed, boolean cache, ModelSpec model, TokenizerConfig tokenizer, List<SourceSpec> sources,
                             double valFraction, TrainSpec train, AdamWConfig optimizer, EvalSpec eval,
                             CheckpointSpec checkpoint, SampleSpec sample, ObjectNode resolved) {

    public record ModelSpec(int nLayer, int nHead, int nEmbd, int blockSize, double dropout, boolean bias) {}

    public record TrainSpec(long maxSteps, int batchSize, int gradAccumSteps) {
        public TrainSpec {
            if (maxSteps <= 0) throw BadInputException.field("train.max_steps", "must be > 0, got " + maxSteps);
            if (batchSize <= 0) throw BadInputException.field("train.batch_size", "must be > 0, got " + batchSize);
            if (gradAccumSteps <= 0) throw BadInputException.field("train.grad_accum_steps", "must be > 0, got " + gradAccumSteps);
        }
    }

    /** @param interval steps between validation runs; @param batches validation batches per run */
    public record EvalSpec(int interval, int batches) {
        public EvalSpec {
            if (interval <= 0) throw BadInputException.field("eval.interval", "must be > 0, got " + interval);
            if (batches <= 0) throw BadInputException.field("eval.batches", "must be > 0, got " + batches);
        }
    }

    /**
     * A checkpoint is due every {@code intervalSteps} steps or {@code intervalSeconds} of wall time, whichever
     * comes first: the time bound is what limits the work a dead pod can cost.
     */
    public record CheckpointSpec(int intervalSteps, double intervalSeconds, int keepLast) {
        public CheckpointSpec {
            if (intervalSteps <= 0) throw BadInputException.field("checkpoint.interval_steps", "must be > 0, got " + intervalSteps);
            if (intervalSeconds <= 0) throw BadInputException.field("checkpoint.interval_seconds", "must be > 0, got " + intervalSeconds);
            if (keepLast < 2) throw BadInputException.field("checkpoint.keep_last", "must be >= 2 so a torn newest checkpoint never leaves none, got " + keepLast);
        }
    }

    public record SampleSpec(int count, int maxNewTokens, double temperature, int topK, String prompt) {
        public SampleSpec {
            if (count < 0) throw BadInputException.field("sample.count", "must be >= 0, got " + count);
            if (maxNewTokens <= 0) throw BadInputException.field("sample.max_new_tokens", "must be > 0, got " + maxNewTokens);
            if (temperature < 0) throw BadInputException.field("sample.temperature", "must be >= 0, got " + temperature);
            if (topK < 0) throw BadInputException.field("sample.top_k", "must be >= 0, got " + topK);
        }
    }

    public long tokensPerStep() {
        return (long) train.batchSize() * train.gradAccumSteps() * model.blockSize();
    }

    public static PretrainConfig parse(JsonNode json) {
        ConfigNode root = new ConfigNode("", json);
        root.allow(StageSpec.ORCHESTRATION_KEYS);
        root.allow(List.of("seed", "cache", "model", "tokenizer", "data", "train", "eval", "checkpoint", "sample"));
        root.finish();
        long seed = root.longValue("seed", 1337);
        boolean cache = root.bool("cache", true);

        // Each section is read whole and checked for unknown keys before its values are judged: a misspelt key
        // is the likelier cause of a strange value, so it is the error to report first.
        ConfigNode m = root.child("model");
        int nLayer = m.integer("n_layer", 4), nHead = m.integer("n_head", 4), nEmbd = m.integer("n_embd", 128);
        int blockSize = m.integer("block_size", 64);
        double dropout = m.number("dropout", 0.0);
        boolean bias = m.bool("bias", true);
        m.finish();
        ModelSpec model = new ModelSpec(positive(m, "n_layer", nLayer), positive(m, "n_head", nHead),
                positive(m, "n_embd", nEmbd), positive(m, "block_size", blockSize), dropout, bias);
        if (model.nEmbd() % model.nHead() != 0) {
            throw BadInputException.field("model.n_embd", model.nEmbd() + " is not divisible by model.n_head (" + model.nHead() + ")");
        }
        if (model.dropout() < 0 || model.dropout() >= 1) {
            throw BadInputException.field("model.dropout", "must be in [0, 1), got " + model.dropout());
        }

        ConfigNode t = root.child("tokenizer");
        String tokType = t.text("type", "char");
        int vocab = t.integer("vocab_size", 0);
        long trainChars = t.longValue("train_chars", TokenizerConfig.DEFAULT_TRAIN_CHARS);
        t.finish();
        TokenizerConfig tokenizer = new TokenizerConfig(tokType, vocab, trainChars);

        ConfigNode d = root.child("data");
        List<ConfigNode> sourceNodes = d.list("sources");
        double valFraction = d.number("val_fraction", 0.1);
        d.finish();
        List<SourceSpec> sources = new ArrayList<>();
        for (int i = 0; i < sourceNodes.size(); i++) {
            ConfigNode s = sourceNodes.get(i);
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
        if (valFraction <= 0 || valFraction >= 1) {
            throw BadInputException.field("data.val_fraction", "must be in (0, 1), got " + valFraction);
        }

        ConfigNode tr = root.child("train");
        long maxSteps = tr.longValue("max_steps", 2000);
        int batchSize = tr.integer("batch_size", 12), accum = tr.integer("grad_accum_steps", 1);
        double lr = tr.number("learning_rate", 1e-3), minLr = tr.number("min_lr", 1e-4);
        int warmup = tr.integer("warmup_steps", 100);
        int decay = tr.integer("lr_decay_steps", (int) Math.min(Integer.MAX_VALUE, maxSteps));
        double beta1 = tr.number("beta1", 0.9), beta2 = tr.number("beta2", 0.99), eps = tr.number("eps", 1e-8);
        double weightDecay = tr.number("weight_decay", 0.1), gradClip = tr.number("grad_clip", 1.0);
        tr.finish();
        TrainSpec train = new TrainSpec(maxSteps, batchSize, accum);
        AdamWConfig optimizer = new AdamWConfig(lr, minLr, warmup, decay, beta1, beta2, eps, weightDecay, gradClip);

        ConfigNode e = root.child("eval");
        int evalInterval = e.integer("interval", 250), evalBatches = e.integer("batches", 20);
        e.finish();
        EvalSpec eval = new EvalSpec(evalInterval, evalBatches);

        ConfigNode c = root.child("checkpoint");
        int ckptSteps = c.integer("interval_steps", 500);
        double ckptSeconds = c.number("interval_seconds", 300);
        int keepLast = c.integer("keep_last", 3);
        c.finish();
        CheckpointSpec checkpoint = new CheckpointSpec(ckptSteps, ckptSeconds, keepLast);

        ConfigNode s = root.child("sample");
        int count = s.integer("count", 3), maxNew = s.integer("max_new_tokens", 200), topK = s.integer("top_k", 20);
        double temperature = s.number("temperature", 0.8);
        String prompt = s.text("prompt", "");
        s.finish();
        SampleSpec sample = new SampleSpec(count, maxNew, temperature, topK, prompt);

        return new PretrainConfig(seed, cache, model, tokenizer, sources, valFraction, train, optimizer, eval, checkpoint,
                sample, root.resolved());
    }

    private static int positive(ConfigNode node, String key, int value) {
        if (value <= 0) {
            throw BadInputException.field(node.field(key), "must be > 0, got " + value);
        }
        return value;
    }
}
