package forge.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.Digests;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.storage.S3Uri;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The checkpoint a stage starts from (the previous stage's {@code final/}, or any checkpoint the spec names): its
 * model shape from {@code config.json}, its tokenizer, its weights, and a digest of its files so that a stage cache
 * key changes when the parent does.
 */
public record ParentModel(LoadedCheckpoint checkpoint, GptConfig config, Tokenizer tokenizer,
                          Map<String, HostTensor> weights, List<String> digest) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public String uri() {
        return checkpoint.uri().toString();
    }

    /**
     * Which checkpoint a stage starts from: its config's init_from if set, else the previous stage's output; a stage
     * with neither (the first of its spec, without init_from) cannot start.
     */
    public static String uri(String initFrom, String previousStageOutput, String stage) {
        String uri = initFrom != null ? initFrom : previousStageOutput;
        if (uri == null) {
            throw BadInputException.field("init_from", "is needed when " + stage + " is the first stage of a "
                    + "pipeline: name the checkpoint it starts from (e.g. an earlier stage's s3://.../final/)");
        }
        return uri;
    }

    /** Loads and checks a parent; anything unusable is the user's error, naming the checkpoint. */
    public static ParentModel load(CheckpointStore reader, String uri) {
        LoadedCheckpoint c = reader.loadRequired(S3Uri.parse(uri.endsWith("/") ? uri : uri + "/"));
        Map<String, HostTensor> weights = Safetensors.read(c.file("model.safetensors"));
        boolean bias = weights.containsKey("h.0.ln_1.bias") || weights.containsKey("transformer.h.0.ln_1.bias");
        GptConfig config = configOf(c, bias);
        Tokenizer tokenizer = Tokenizer.fromHuggingFaceJson(new String(c.file("tokenizer.json"), StandardCharsets.UTF_8));
        if (tokenizer.vocabSize() != config.vocabSize()) {
            throw new BadInputException("parent checkpoint " + uri + ": its tokenizer has " + tokenizer.vocabSize()
                    + " tokens but its model's vocab_size is " + config.vocabSize() + "; the two do not belong together");
        }
        List<String> digest = new ArrayList<>();
        for (String name : List.of("model.safetensors", "tokenizer.json", "config.json")) {
            digest.add(name + " " + Digests.sha256(c.file(name)));
        }
        return new ParentModel(c, config, tokenizer, weights, List.copyOf(digest));
    }

    /** Copies the weights into a model built from {@link #config()}; a shape mismatch names the tensor. */
    public void loadInto(Gpt model) {
        try {
            model.load(weights);
        } catch (BadInputException e) {
            throw new BadInputException("parent checkpoint " + uri() + ": " + e.getMessage(), e);
        }
    }

    /**
     * A stage's own checkpoint must have been trained from this parent: same model shape, same tokenizer. A parent
     * that changed under a running stage (re-trained, or init_from pointed elsewhere) would otherwise be mixed in.
     */
    public void requireSameAs(LoadedCheckpoint own) {
        String recorded = TrainState.fromJson(own.file("state.json"), own.uri().toString()).parentCheckpoint();
        if (recorded != null && !recorded.equals(uri())) {
            throw new BadInputException(own.uri() + " was fine-tuned from " + recorded + ", but this attempt starts "
                    + "from " + uri() + "; a run id names one pipeline — start under a new run id");
        }
        // Whether the model has biases shows in its tensors, not config.json; a mismatch there fails the load itself.
        GptConfig ownConfig = configOf(own, config.bias());
        if (!ownConfig.equals(config)) {
            throw new BadInputException(own.uri() + " was trained from a model of shape " + ownConfig
                    + ", but the parent checkpoint " + uri() + " has shape " + config
                    + "; start the stage under a new run id");
        }
        String ownTokenizer = new String(own.file("tokenizer.json"), StandardCharsets.UTF_8);
        if (!ownTokenizer.equals(tokenizer.toHuggingFaceJson())) {
            throw new BadInputException(own.uri() + " uses a different tokenizer from its parent checkpoint " + uri()
                    + "; start the stage under a new run id");
        }
    }

    /** The shape in an HF GPT-2 {@code config.json}, which has no field for whether the model has biases. */
    private static GptConfig configOf(LoadedCheckpoint c, boolean bias) {
        JsonNode cfg;
        try {
            cfg = JSON.readTree(c.file("config.json"));
        } catch (IOException e) {
            throw new BadInputException("checkpoint " + c.uri() + ": config.json is not JSON: " + e.getMessage(), e);
        }
        try {
            return new GptConfig(required(cfg, "vocab_size", c), required(cfg, "n_positions", c),
                    required(cfg, "n_layer", c), required(cfg, "n_head", c), required(cfg, "n_embd", c),
                    cfg.path("resid_pdrop").asDouble(0.0), bias);
        } catch (BadInputException e) {
            throw new BadInputException("checkpoint " + c.uri() + " config.json: " + e.getMessage(), e);
        }
    }

    private static int required(JsonNode cfg, String key, LoadedCheckpoint c) {
        JsonNode v = cfg.get(key);
        if (v == null || !v.canConvertToInt()) {
            throw new BadInputException("checkpoint " + c.uri() + " config.json: " + key + " is missing or not an integer");
        }
        return v.asInt();
    }
}
