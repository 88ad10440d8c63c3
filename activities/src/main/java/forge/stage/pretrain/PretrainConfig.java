package forge.stage.pretrain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.config.ConfigNode;
import forge.data.SourceSpec;
import forge.errors.BadInputException;
import forge.model.GptConfig;
import forge.optim.AdamWConfig;
import forge.tokenizer.TokenizerConfig;
import forge.train.CheckpointSpec;
import forge.train.ConfigSections;
import forge.train.EvalSpec;
import forge.train.SampleSpec;
import forge.train.TrainSpec;
import forge.workflow.StageSpec;

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

    /**
     * @param arch             "gpt2" (nanoGPT's block, the default) or "llama" (RMSNorm, RoPE, SwiGLU, grouped-query
     *                         attention); the Llama keys are ignored for gpt2 and must not be given
     * @param nKvHead          llama: key/value heads (default n_head)
     * @param intermediateSize llama: the SwiGLU width (default the multiple of 32 nearest 8/3·n_embd)
     */
    public record ModelSpec(int nLayer, int nHead, int nEmbd, int blockSize, double dropout, boolean bias,
                            String arch, int nKvHead, int intermediateSize, double ropeTheta, boolean tiedEmbeddings) {}

    /** The model this config trains; the vocabulary is the tokenizer's. */
    public GptConfig gptConfig(int vocabSize) {
        if (model.arch().equals(forge.model.Architecture.LLAMA)) {
            return GptConfig.llama(vocabSize, model.blockSize(), model.nLayer(), model.nHead(), model.nKvHead(),
                    model.nEmbd(), model.intermediateSize(), model.ropeTheta(), model.tiedEmbeddings(),
                    model.dropout());
        }
        return new GptConfig(vocabSize, model.blockSize(), model.nLayer(), model.nHead(), model.nEmbd(),
                model.dropout(), model.bias());
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

        // Each section is read whole before its values are judged (see ConfigSections).
        ConfigNode m = root.child("model");
        int nLayer = m.integer("n_layer", 4), nHead = m.integer("n_head", 4), nEmbd = m.integer("n_embd", 128);
        int blockSize = m.integer("block_size", 64);
        double dropout = m.number("dropout", 0.0);
        String arch = m.text("arch", forge.model.Architecture.GPT2);
        boolean llama = arch.equals(forge.model.Architecture.LLAMA);
        if (!llama && !arch.equals(forge.model.Architecture.GPT2)) {
            throw BadInputException.field("model.arch", "\"" + arch + "\" is not supported for pretraining (gpt2, "
                    + "llama; start from a Hugging Face checkpoint for the others)");
        }
        boolean bias = true;
        int nKvHead = nHead;
        int intermediate = 0;
        double ropeTheta = 10000.0;
        boolean tied = true;
        if (llama) {
            nKvHead = m.integer("n_kv_head", nHead);
            intermediate = m.integer("intermediate_size", Math.max(32, (int) Math.round(8.0 * nEmbd / 3 / 32) * 32));
            ropeTheta = m.number("rope_theta", 10000.0);
            tied = m.bool("tie_word_embeddings", false);
        } else {
            bias = m.bool("bias", true);
        }
        m.finish();
        ModelSpec model = new ModelSpec(positive(m, "n_layer", nLayer), positive(m, "n_head", nHead),
                positive(m, "n_embd", nEmbd), positive(m, "block_size", blockSize), dropout, bias, arch,
                llama ? positive(m, "n_kv_head", nKvHead) : nKvHead,
                llama ? positive(m, "intermediate_size", intermediate) : 4 * nEmbd, ropeTheta, tied);
        if (llama) {
            // Judged now (n_kv_head dividing n_head, rope_theta, an even head size), not at the first step.
            GptConfig.llama(1, model.blockSize(), model.nLayer(), model.nHead(), model.nKvHead(), model.nEmbd(),
                    model.intermediateSize(), model.ropeTheta(), model.tiedEmbeddings(), model.dropout());
        }
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
        List<SourceSpec> sources = ConfigSections.sources(sourceNodes);
        if (valFraction <= 0 || valFraction >= 1) {
            throw BadInputException.field("data.val_fraction", "must be in (0, 1), got " + valFraction);
        }

        ConfigSections.Train train = ConfigSections.train(root,
                new ConfigSections.TrainDefaults(2000, 12, 1e-3, 1e-4, 100, 0.1));
        if (train.spec().activationCheckpointing() && dropout > 0) {
            throw BadInputException.field("train.activation_checkpointing", "needs model.dropout 0 (a recomputed "
                    + "block would draw a second dropout mask), got " + dropout);
        }
        EvalSpec eval = ConfigSections.eval(root, 250, 20);
        CheckpointSpec checkpoint = ConfigSections.checkpoint(root);
        SampleSpec sample = ConfigSections.sample(root, 3, 200, "", 0.8);

        return new PretrainConfig(seed, cache, model, tokenizer, sources, valFraction, train.spec(), train.optimizer(),
                eval, checkpoint, sample, root.resolved());
    }

    private static int positive(ConfigNode node, String key, int value) {
        if (value <= 0) {
            throw BadInputException.field(node.field(key), "must be > 0, got " + value);
        }
        return value;
    }
}
