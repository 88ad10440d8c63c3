package forge.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.errors.BadInputException;

/**
 * What a pretrained checkpoint's {@code tokenizer_config.json} says about its tokenizer: the special tokens' roles
 * (bos, eos, pad, unk; strings or AddedToken objects) and the chat template (inline, from a list of named templates,
 * or from {@code chat_template.jinja} beside it, as transformers 5 writes it).
 *
 * @param json the file as read (an empty object when the checkpoint has none), kept so that an export changes
 *             only what it must
 */
public record HfTokenizerConfig(ObjectNode json, String bosToken, String eosToken, String padToken, String unkToken,
                                String chatTemplate) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static HfTokenizerConfig empty() {
        return new HfTokenizerConfig(JSON.createObjectNode(), null, null, null, null, null);
    }

    /**
     * @param tokenizerConfig tokenizer_config.json's text, or null when there is none
     * @param chatTemplateFile chat_template.jinja's text, or null; it wins over an inline chat_template, as in
     *                         transformers
     */
    public static HfTokenizerConfig parse(String tokenizerConfig, String chatTemplateFile) {
        ObjectNode root;
        if (tokenizerConfig == null) {
            root = JSON.createObjectNode();
        } else {
            try {
                JsonNode n = JSON.readTree(tokenizerConfig);
                if (n == null || !n.isObject()) {
                    throw new BadInputException("tokenizer_config.json: must be a JSON object");
                }
                root = (ObjectNode) n;
            } catch (JsonProcessingException e) {
                throw new BadInputException("tokenizer_config.json: not valid JSON (" + e.getOriginalMessage() + ")", e);
            }
        }
        String template = chatTemplateFile != null ? chatTemplateFile : inlineTemplate(root.get("chat_template"));
        return new HfTokenizerConfig(root, token(root, "bos_token"), token(root, "eos_token"),
                token(root, "pad_token"), token(root, "unk_token"), template);
    }

    private static String token(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return n.textValue();
        }
        if (n.isObject() && n.path("content").isTextual()) {
            return n.get("content").textValue();
        }
        throw BadInputException.field("tokenizer_config.json " + key, "must be a string or {\"content\": ...}, got " + n);
    }

    /** An inline template, or the "default" one of a list of named templates. */
    private static String inlineTemplate(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return n.textValue();
        }
        if (n.isArray()) {
            for (JsonNode t : n) {
                if (t.path("name").asText().equals("default") && t.path("template").isTextual()) {
                    return t.get("template").textValue();
                }
            }
            throw BadInputException.field("tokenizer_config.json chat_template",
                    "a list of templates needs one named \"default\"");
        }
        throw BadInputException.field("tokenizer_config.json chat_template", "must be a string, got " + n);
    }

    /** This config with another chat template (null removes it). */
    public HfTokenizerConfig withChatTemplate(String template) {
        return new HfTokenizerConfig(json, bosToken, eosToken, padToken, unkToken, template);
    }

    /** The file an export writes: the original with the chat template inline (every transformers version reads it). */
    public String toJson(int modelMaxLength) {
        ObjectNode out = json.deepCopy();
        if (chatTemplate != null) {
            out.put("chat_template", chatTemplate);
        } else {
            out.remove("chat_template");
        }
        if (!out.has("tokenizer_class")) {
            out.put("tokenizer_class", "PreTrainedTokenizerFast");
        }
        if (modelMaxLength > 0) {
            out.put("model_max_length", modelMaxLength);
        }
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(out);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
