package forge.model;

import forge.errors.BadInputException;

import java.util.Map;

/**
 * The shape of a decoder-only causal LM: nanoGPT's GPTConfig, widened to the fields Hugging Face's Llama-family
 * configs add. {@code arch} picks the {@link Architecture} (which blocks, which parameter names); the 7-argument
 * constructor is the GPT-2 model every stage trained before there were others.
 *
 * @param arch             "gpt2", "llama", "qwen2" or "mistral" (see {@link Architecture#of})
 * @param blockSize        the longest sequence the model takes (n_positions, max_position_embeddings)
 * @param nKvHead          key/value heads (grouped-query attention); nHead for GPT-2 and plain multi-head attention
 * @param headDim          size of one head; nEmbd / nHead for GPT-2, the config's head_dim for Llama-family models
 * @param intermediateSize width of the MLP (4·nEmbd for GPT-2)
 * @param dropout          GPT-2: embedding, attention and residual dropout; Llama family: attention dropout
 * @param bias             GPT-2: biases on every linear and LayerNorm (nanoGPT's {@code bias}); Llama family:
 *                         {@code attention_bias}, biases on q/k/v/o (Qwen2 always has them on q/k/v, never on o)
 * @param mlpBias          Llama family: {@code mlp_bias}; GPT-2: the same as bias
 * @param normEps          LayerNorm / RMSNorm epsilon
 * @param tiedEmbeddings   whether the LM head is the token embedding (GPT-2 always)
 * @param rope             rotary embedding of Llama-family models; null for GPT-2's learned positions
 */
public record GptConfig(String arch, int vocabSize, int blockSize, int nLayer, int nHead, int nKvHead, int nEmbd,
                        int headDim, int intermediateSize, double dropout, boolean bias, boolean mlpBias,
                        double normEps, boolean tiedEmbeddings, RopeConfig rope) {
    static final double GPT2_LAYER_NORM_EPS = 1e-5;

    /** A GPT-2 (nanoGPT) shape. */
    public GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, double dropout, boolean bias) {
        this(Architecture.GPT2, vocabSize, blockSize, nLayer, nHead, nHead, nEmbd,
                nHead > 0 && nEmbd % nHead == 0 ? nEmbd / nHead : 1, 4 * nEmbd, dropout, bias, bias,
                GPT2_LAYER_NORM_EPS, true, null);
    }

    public GptConfig {
        Architecture a = Architecture.of(arch);
        positive("model.vocab_size", vocabSize);
        positive("model.block_size", blockSize);
        positive("model.n_layer", nLayer);
        positive("model.n_head", nHead);
        positive("model.n_embd", nEmbd);
        if (a.isGpt2() && nEmbd % nHead != 0) {
            throw BadInputException.field("model.n_embd",
                    nEmbd + " is not divisible by model.n_head (" + nHead + ")");
        }
        positive("model.n_kv_head", nKvHead);
        if (nHead % nKvHead != 0) {
            throw BadInputException.field("model.n_kv_head",
                    "model.n_head (" + nHead + ") is not a multiple of it (" + nKvHead + ")");
        }
        positive("model.head_dim", headDim);
        if (a.usesRope() && headDim % 2 != 0) {
            throw BadInputException.field("model.head_dim", "rotary embeddings need an even head size, got " + headDim);
        }
        positive("model.intermediate_size", intermediateSize);
        if (!(dropout >= 0 && dropout < 1)) {
            throw BadInputException.field("model.dropout", "must be in [0, 1), got " + dropout);
        }
        if (!(normEps > 0 && normEps < 1)) {
            throw BadInputException.field("model.norm_eps", "must be in (0, 1), got " + normEps);
        }
        if (a.usesRope() != (rope != null)) {
            throw new IllegalArgumentException(arch + (a.usesRope() ? " needs" : " takes no") + " rotary embeddings");
        }
        if (a.isGpt2() && !tiedEmbeddings) {
            throw BadInputException.field("model.tie_word_embeddings", "GPT-2's LM head is always its token embedding");
        }
    }

    /** A Llama-family shape with the Llama defaults for what a pretraining spec does not say. */
    public static GptConfig llama(int vocabSize, int blockSize, int nLayer, int nHead, int nKvHead, int nEmbd,
                                  int intermediateSize, double ropeTheta, boolean tiedEmbeddings, double dropout) {
        int headDim = nHead > 0 && nEmbd % nHead == 0 ? nEmbd / nHead : 0;
        if (nHead > 0 && nEmbd > 0 && headDim == 0) {
            throw BadInputException.field("model.n_embd", nEmbd + " is not divisible by model.n_head (" + nHead + ")");
        }
        return new GptConfig(Architecture.LLAMA, vocabSize, blockSize, nLayer, nHead, nKvHead, nEmbd, headDim,
                intermediateSize, dropout, false, false, 1e-5, tiedEmbeddings, RopeConfig.plain(ropeTheta));
    }

    private static void positive(String field, int value) {
        if (value <= 0) {
            throw BadInputException.field(field, "must be > 0, got " + value);
        }
    }

    public Architecture architecture() {
        return Architecture.of(arch);
    }

    public int headSize() {
        return headDim;
    }

    /** Every trainable number, embeddings included (a tied LM head adds nothing). */
    public long parameterCount() {
        return architecture().parameterShapes(this).values().stream().mapToLong(forge.tensor.HostTensor::numel)
                .sum();
    }

    /** A config.json for transformers; the weights from {@code Gpt.snapshot()} load under it. */
    public Map<String, Object> toHuggingFaceConfig() {
        return architecture().huggingFaceConfig(this);
    }

    /** This shape at another dropout (fine-tuning a checkpoint with a spec's own dropout). */
    public GptConfig withDropout(double p) {
        return new GptConfig(arch, vocabSize, blockSize, nLayer, nHead, nKvHead, nEmbd, headDim, intermediateSize, p,
                bias, mlpBias, normEps, tiedEmbeddings, rope);
    }
}
