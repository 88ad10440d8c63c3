package forge.model;

import forge.errors.BadInputException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The shape of a GPT-2 style model, nanoGPT's GPTConfig. {@code bias=false} drops the biases of every Linear and
 * LayerNorm, as nanoGPT allows (the result is then no longer loadable as a stock HF GPT-2).
 */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, double dropout,
                        boolean bias) {

    public GptConfig {
        positive("model.vocab_size", vocabSize);
        positive("model.block_size", blockSize);
        positive("model.n_layer", nLayer);
        positive("model.n_head", nHead);
        positive("model.n_embd", nEmbd);
        if (nEmbd % nHead != 0) {
            throw BadInputException.field("model.n_embd",
                    nEmbd + " is not divisible by model.n_head (" + nHead + ")");
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw BadInputException.field("model.dropout", "must be in [0, 1), got " + dropout);
        }
    }

    private static void positive(String field, int value) {
        if (value <= 0) {
            throw BadInputException.field(field, "must be > 0, got " + value);
        }
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    /** Every trainable number, embeddings included (the LM head is tied to wte and adds nothing). */
    public long parameterCount() {
        long c = nEmbd;
        long b = bias ? 1 : 0;
        long perLayer = (c + b * c)                 // ln_1
                + (c * 3 * c + b * 3 * c)           // attn.c_attn
                + (c * c + b * c)                   // attn.c_proj
                + (c + b * c)                       // ln_2
                + (c * 4 * c + b * 4 * c)           // mlp.c_fc
                + (4 * c * c + b * c);              // mlp.c_proj
        return (long) vocabSize * c + (long) blockSize * c + nLayer * perLayer + (c + b * c);
    }

    /** A config.json for transformers' GPT2LMHeadModel; the weights from {@code Gpt.snapshot()} load under it. */
    public Map<String, Object> toHuggingFaceConfig() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_type", "gpt2");
        m.put("architectures", List.of("GPT2LMHeadModel"));
        m.put("vocab_size", vocabSize);
        m.put("n_positions", blockSize);
        m.put("n_ctx", blockSize);
        m.put("n_embd", nEmbd);
        m.put("n_layer", nLayer);
        m.put("n_head", nHead);
        m.put("activation_function", "gelu_new");
        m.put("resid_pdrop", dropout);
        m.put("embd_pdrop", dropout);
        m.put("attn_pdrop", dropout);
        m.put("layer_norm_epsilon", Gpt.LAYER_NORM_EPS);
        m.put("initializer_range", 0.02);
        m.put("scale_attn_weights", true);
        m.put("tie_word_embeddings", true);
        m.put("torch_dtype", "float32");
        return m;
    }
}
