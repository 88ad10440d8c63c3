package forge.hf;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.Digests;
import forge.errors.BadInputException;
import forge.model.Architecture;
import forge.model.GptConfig;
import forge.model.HfNames;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.tensor.SafetensorsIndex;
import forge.tokenizer.HfTokenizerConfig;
import forge.tokenizer.PretrainedTokenizer;
import forge.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A Hugging Face checkpoint as transformers' {@code from_pretrained} reads it: config.json (the architecture and
 * shape), model.safetensors or the shards that model.safetensors.index.json lists (float32, bfloat16 or float16),
 * tokenizer.json, tokenizer_config.json (special-token roles, the chat template, or chat_template.jinja beside it)
 * and generation_config.json. Everything is checked when read: an unsupported architecture feature, a missing
 * tensor or a tokenizer this code cannot run fails naming the file and field, before any training starts.
 *
 * @param weights           tensors by HF name, in file order, dtype as stored (Gpt converts them)
 * @param configJson        config.json as read, so an export keeps the fields this code does not interpret
 * @param generationConfig  generation_config.json as read, or null
 * @param digest            "name sha256" of every file read, so a stage cache key changes when the checkpoint does
 */
public record HfCheckpoint(GptConfig config, Map<String, HostTensor> weights, Tokenizer tokenizer,
                           ObjectNode configJson, ObjectNode generationConfig, List<String> digest) {
    static final ObjectMapper JSON = new ObjectMapper();
    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    public static final String TOKENIZER = "tokenizer.json";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    public static final String CHAT_TEMPLATE = "chat_template.jinja";
    public static final String GENERATION_CONFIG = "generation_config.json";

    public static HfCheckpoint read(HfFiles files) {
        List<String> digest = new ArrayList<>();
        HfFiles dir = new HfFiles() {
            @Override
            public byte[] read(String name) {
                byte[] b = files.read(name);
                if (b != null) {
                    digest.add(name + " " + Digests.sha256(b));
                }
                return b;
            }

            @Override
            public String where(String name) {
                return files.where(name);
            }
        };
        ObjectNode config = object(dir, CONFIG, true);
        Map<String, HostTensor> weights = weights(dir);
        GptConfig cfg = Architecture.fromHuggingFace(config, dir.where(CONFIG), name -> hasTensor(weights, name));
        checkTensors(cfg, weights, dir);
        Tokenizer tokenizer = tokenizer(dir);
        // Published models may pad the embedding past the tokenizer (Qwen2: a multiple of 128); Forge's never do.
        boolean padded = tokenizer instanceof PretrainedTokenizer && tokenizer.vocabSize() < cfg.vocabSize();
        if (tokenizer.vocabSize() != cfg.vocabSize() && !padded) {
            throw new BadInputException(dir.where(TOKENIZER) + ": has " + tokenizer.vocabSize() + " tokens but "
                    + CONFIG + " vocab_size is " + cfg.vocabSize() + "; the tokenizer and the model do not belong together");
        }
        ObjectNode generation = object(dir, GENERATION_CONFIG, false);
        return new HfCheckpoint(cfg, weights, tokenizer, config, generation, List.copyOf(digest));
    }

    /**
     * The tokenizer: Forge's own (its seven special tokens at ids 0..6, as every Forge stage wrote it before
     * checkpoints could come from elsewhere) or a pretrained one. A model's vocab_size may exceed its tokenizer's
     * (Qwen2 pads the embedding to a multiple of 128); it may not fall short.
     */
    public static Tokenizer tokenizer(HfFiles dir) {
        byte[] tok = dir.read(TOKENIZER);
        if (tok == null) {
            throw new BadInputException(dir.where(TOKENIZER) + ": is missing (only fast tokenizers, tokenizer.json, "
                    + "are supported; a SentencePiece tokenizer.model alone is not)");
        }
        String json = text(tok);
        if (Tokenizer.isForgeJson(json)) {
            return Tokenizer.fromHuggingFaceJson(json);
        }
        HfTokenizerConfig tc = HfTokenizerConfig.parse(text(dir.read(TOKENIZER_CONFIG)), text(dir.read(CHAT_TEMPLATE)));
        try {
            PretrainedTokenizer t = PretrainedTokenizer.read(json, tc);
            HfTokenizerConfig filled = withModelIds(tc, t, dir);
            return filled == tc ? t : PretrainedTokenizer.read(json, filled);
        } catch (BadInputException e) {
            throw new BadInputException(dir.where("") + ": " + e.getMessage(), e);
        }
    }

    /**
     * A tokenizer_config.json that names no bos, eos or pad token gets the id generation_config.json (else
     * config.json) gives, as transformers' generate uses them; a list of eos ids gives its first. tc itself when
     * nothing is missing or nothing fills it. A pad still missing falls back to eos ({@link PretrainedTokenizer#id}).
     */
    private static HfTokenizerConfig withModelIds(HfTokenizerConfig tc, PretrainedTokenizer t, HfFiles dir) {
        if (tc.bosToken() != null && tc.eosToken() != null && tc.padToken() != null) {
            return tc;
        }
        List<ObjectNode> sources = new ArrayList<>();
        for (String name : new String[] {GENERATION_CONFIG, CONFIG}) {
            ObjectNode n = object(dir, name, false);
            if (n != null) {
                sources.add(n);
            }
        }
        String bos = tc.bosToken() != null ? tc.bosToken() : token(sources, "bos_token_id", t);
        String eos = tc.eosToken() != null ? tc.eosToken() : token(sources, "eos_token_id", t);
        String pad = tc.padToken() != null ? tc.padToken() : token(sources, "pad_token_id", t);
        if (java.util.Objects.equals(bos, tc.bosToken()) && java.util.Objects.equals(eos, tc.eosToken())
                && java.util.Objects.equals(pad, tc.padToken())) {
            return tc;
        }
        return new HfTokenizerConfig(tc.json(), bos, eos, pad, tc.unkToken(), tc.chatTemplate());
    }

    private static String token(List<ObjectNode> sources, String field, PretrainedTokenizer t) {
        for (ObjectNode n : sources) {
            JsonNode v = n.get(field);
            if (v != null && v.isArray() && !v.isEmpty()) {
                v = v.get(0);
            }
            if (v != null && v.canConvertToInt() && v.intValue() >= 0 && v.intValue() < t.vocabSize()) {
                return t.token(v.intValue());
            }
        }
        return null;
    }

    /** Internal names a tensor of the file may be known by (GPT-2's transformer. prefix). */
    private static boolean hasTensor(Map<String, HostTensor> weights, String internalName) {
        return weights.containsKey(internalName) || weights.containsKey("transformer." + internalName)
                || weights.containsKey("model." + internalName);
    }

    /** Every parameter the config implies is there with its shape, so a bad file fails here, not mid-load. */
    private static void checkTensors(GptConfig cfg, Map<String, HostTensor> weights, HfFiles dir) {
        Set<String> present = new LinkedHashSet<>();
        for (String hf : weights.keySet()) {
            String name = HfNames.internalName(cfg, hf);
            if (name != null) {
                present.add(name);
            }
        }
        for (String name : cfg.architecture().parameterShapes(cfg).keySet()) {
            if (!present.contains(name)) {
                throw new BadInputException(dir.where(WEIGHTS) + ": is missing tensor " + HfNames.hfName(cfg, name)
                        + " that " + CONFIG + " implies");
            }
        }
    }

    private static Map<String, HostTensor> weights(HfFiles dir) {
        byte[] single = dir.read(WEIGHTS);
        if (single != null) {
            return Safetensors.read(single);
        }
        byte[] indexJson = dir.read(INDEX);
        if (indexJson == null) {
            String why = dir.read("pytorch_model.bin") != null ? " (pytorch_model.bin is not read: convert it to "
                    + "safetensors)" : "";
            throw new BadInputException(dir.where(WEIGHTS) + ": is missing, and there is no " + INDEX + why);
        }
        SafetensorsIndex index = SafetensorsIndex.parse(indexJson, dir.where(INDEX));
        Map<String, HostTensor> all = new LinkedHashMap<>();
        for (String shard : index.shards()) {
            byte[] bytes = dir.read(shard);
            if (bytes == null) {
                throw new BadInputException(dir.where(shard) + ": is missing (listed in " + INDEX + ")");
            }
            all.putAll(Safetensors.read(bytes));
        }
        index.weightMap().forEach((tensor, shard) -> {
            if (!all.containsKey(tensor)) {
                throw new BadInputException(dir.where(shard) + ": lacks tensor " + tensor
                        + " that " + INDEX + " puts there");
            }
        });
        return all;
    }

    static ObjectNode object(HfFiles dir, String name, boolean required) {
        byte[] bytes = dir.read(name);
        if (bytes == null) {
            if (required) {
                throw new BadInputException(dir.where(name) + ": is missing");
            }
            return null;
        }
        try {
            JsonNode n = JSON.readTree(bytes);
            if (n == null || !n.isObject()) {
                throw new BadInputException(dir.where(name) + ": must be a JSON object");
            }
            return (ObjectNode) n;
        } catch (java.io.IOException e) {
            String detail = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw new BadInputException(dir.where(name) + ": not valid JSON (" + detail + ")", e);
        }
    }

    private static String text(byte[] bytes) {
        return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
    }
}
