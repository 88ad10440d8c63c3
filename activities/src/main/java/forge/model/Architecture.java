package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Everything that differs between the model families {@link Gpt} runs: which blocks it is built from, the names
 * and shapes of its parameters (Hugging Face's), how a fresh one is initialised, what LoRA may target, and its
 * Hugging Face {@code config.json}. Adding an architecture means one implementation of this interface and one line in
 * {@link #of}; the forward, generation, LoRA, freezing and serialisation are shared.
 *
 * <p>Parameter names are what Hugging Face's model classes call them, so a snapshot is a state dict: Llama-family
 * names include the base model's {@code model.} prefix, GPT-2's leave out {@code transformer.} as Forge's GPT-2
 * checkpoints always have (see {@link HfNames}).
 */
public interface Architecture {
    String GPT2 = "gpt2";
    String LLAMA = "llama";
    String QWEN2 = "qwen2";
    String MISTRAL = "mistral";
    List<String> ALL = List.of(GPT2, LLAMA, QWEN2, MISTRAL);

    /** The architecture called {@code name} in a spec's {@code model.arch} and in config.json's model_type. */
    static Architecture of(String name) {
        if (name == null) {
            throw BadInputException.field("model.arch", "is missing (one of " + ALL + ")");
        }
        return switch (name) {
            case GPT2 -> Gpt2Architecture.INSTANCE;
            case LLAMA -> LlamaArchitecture.LLAMA;
            case QWEN2 -> LlamaArchitecture.QWEN2;
            case MISTRAL -> LlamaArchitecture.MISTRAL;
            default -> throw BadInputException.field("model.arch", "\"" + name + "\" is not supported (supported: "
                    + String.join(", ", ALL) + ")");
        };
    }

    /**
     * Reads a Hugging Face {@code config.json}: the architecture from model_type and architectures, the shape from
     * the rest. A feature this code does not implement fails naming the field.
     *
     * @param where     names the file in errors, e.g. {@code s3://models/qwen/config.json}
     * @param hasTensor whether the checkpoint's weights hold a tensor (by internal name): GPT-2's config does not
     *                  say whether it has biases
     */
    static GptConfig fromHuggingFace(JsonNode config, String where, Predicate<String> hasTensor) {
        HfConfigFields f = new HfConfigFields(config, where);
        String type = f.string("model_type", null);
        if (type == null) {
            throw f.fail("model_type", "is missing");
        }
        Architecture a;
        try {
            a = of(type);
        } catch (BadInputException e) {
            throw f.fail("model_type", "\"" + type + "\" is not supported (supported: " + String.join(", ", ALL) + ")");
        }
        JsonNode classes = config.path("architectures");
        if (classes.isArray()) {
            for (JsonNode c : classes) {
                String cls = c.asText();
                if (!cls.equals(a.causalLmClass()) && !cls.equals(a.sequenceClassificationClass())) {
                    throw f.fail("architectures", "\"" + cls + "\" is not supported (supported: " + a.causalLmClass()
                            + ", " + a.sequenceClassificationClass() + ")");
                }
            }
        }
        return a.readConfig(f, hasTensor);
    }

    String name();

    default boolean isGpt2() {
        return false;
    }

    /** Rotary positions (a {@link GptConfig#rope()}) rather than a learned position embedding. */
    boolean usesRope();

    /** Every base parameter's name and shape, in snapshot order: embeddings, blocks 0..n-1, final norm, LM head. */
    LinkedHashMap<String, long[]> parameterShapes(GptConfig c);

    /** How a fresh model draws a parameter: the standard deviation of a normal, 0 for zeros, NaN for ones. */
    double initStd(String name, GptConfig c);

    /** The token embedding, (V, C); also the LM head when the embeddings are tied. */
    String tokenEmbedding();

    /** The learned position embedding (block, C), or null. */
    String positionEmbedding();

    /** The untied LM head (V, C), used only when the config does not tie it. */
    String lmHead();

    /** Names of block i's parameters start with this, e.g. "h.3." or "model.layers.3.". */
    String blockPrefix(int i);

    Block block(int i, Map<String, NDArray> p, GptConfig c, NDManager m);

    Norm finalNorm(Map<String, NDArray> p, GptConfig c, NDManager m);

    /** LoRA targets in block order, each with its module path inside a block. */
    LinkedHashMap<String, String> loraTargets();

    /** Targets when a spec names none (PEFT's defaults for the family). */
    List<String> defaultLoraTargets();

    /** transformers' class names, for config.json's architectures. */
    String causalLmClass();

    String sequenceClassificationClass();

    /** HF's name of the base model inside its LM class, the prefix of base parameters in its state dict. */
    String hfBasePrefix();

    Map<String, Object> huggingFaceConfig(GptConfig c);

    GptConfig readConfig(HfConfigFields f, Predicate<String> hasTensor);

    /** Whether an HF state dict entry is a buffer or duplicate this code does not load (masks, inv_freq). */
    boolean ignoredHfTensor(String hfName);
}
