package forge.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.errors.BadInputException;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the Hugging Face {@code tokenizer.json} format. Both our tokenizers are a BPE model: byte-level
 * BPE with GPT-2's ByteLevel pre-tokenizer and decoder, and char-level as BPE with no merges, no pre-tokenizer and
 * an unknown token, which the tokenizers library encodes one code point per token.
 */
final class HuggingFaceJson {
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final String WHERE = "tokenizer.json";

    private HuggingFaceJson() {
    }

    static String write(String[] vocab, List<String[]> merges, boolean byteLevel) {
        ObjectNode root = F.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (SpecialToken t : SpecialToken.values()) {
            ObjectNode a = added.addObject();
            a.put("id", t.id());
            a.put("content", t.text());
            a.put("single_word", false);
            a.put("lstrip", false);
            a.put("rstrip", false);
            a.put("normalized", false);
            a.put("special", true);
        }
        root.putNull("normalizer");
        if (byteLevel) {
            root.set("pre_tokenizer", byteLevelNode(false, true));
            root.set("post_processor", byteLevelNode(true, false));
            root.set("decoder", byteLevelNode(true, true));
        } else {
            root.putNull("pre_tokenizer");
            root.putNull("post_processor");
            root.set("decoder", F.objectNode().put("type", "Fuse"));
        }
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        if (byteLevel) {
            model.putNull("unk_token");
        } else {
            model.put("unk_token", SpecialToken.UNKNOWN.text());
        }
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        ObjectNode v = model.putObject("vocab");
        for (int id = 0; id < vocab.length; id++) {
            v.put(vocab[id], id);
        }
        ArrayNode m = model.putArray("merges");
        for (String[] merge : merges) {
            // "a b" is the form every tokenizers version reads; byte-level symbols never contain a space.
            m.add(merge[0] + " " + merge[1]);
        }
        try {
            return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise tokenizer", e);
        }
    }

    private static ObjectNode byteLevelNode(boolean addPrefixSpace, boolean trimOffsets) {
        ObjectNode n = F.objectNode();
        n.put("type", "ByteLevel");
        n.put("add_prefix_space", addPrefixSpace);
        n.put("trim_offsets", trimOffsets);
        n.put("use_regex", true);
        return n;
    }

    static Tokenizer read(String json) {
        if (json == null || json.isBlank()) {
            throw new BadInputException(WHERE + ": is empty");
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new BadInputException(WHERE + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (!root.isObject()) {
            throw new BadInputException(WHERE + ": must be a JSON object");
        }
        JsonNode model = root.path("model");
        if (!model.isObject()) {
            throw fail("model", "missing");
        }
        if (!model.path("type").asText("BPE").equals("BPE")) {
            throw fail("model.type", "only BPE models are supported, got \"" + model.path("type").asText() + "\"");
        }
        String[] vocab = readVocab(model.path("vocab"));
        checkSpecials(vocab, root.path("added_tokens"));
        List<String[]> merges = readMerges(model.path("merges"));
        String pre = root.path("pre_tokenizer").path("type").asText("");
        if (pre.equals("ByteLevel")) {
            if (root.path("pre_tokenizer").path("add_prefix_space").asBoolean(false)) {
                throw fail("pre_tokenizer.add_prefix_space", "must be false (GPT-2 style)");
            }
            return byteLevel(vocab, merges);
        }
        if (root.path("pre_tokenizer").isNull() || root.path("pre_tokenizer").isMissingNode()) {
            if (!merges.isEmpty()) {
                throw fail("model.merges", "a char-level tokenizer (no pre_tokenizer) must have no merges");
            }
            return charLevel(vocab);
        }
        throw fail("pre_tokenizer.type", "only ByteLevel (bpe) or none (char) are supported, got \"" + pre + "\"");
    }

    static boolean isForge(String json) {
        JsonNode added;
        try {
            added = MAPPER.readTree(json).path("added_tokens");
        } catch (JsonProcessingException e) {
            return false; // whichever reader is used reports the syntax error
        }
        if (!added.isArray() || added.size() != SpecialToken.count()) {
            return false;
        }
        for (SpecialToken t : SpecialToken.values()) {
            JsonNode a = added.get(t.id());
            if (a.path("id").asInt(-1) != t.id() || !a.path("content").asText().equals(t.text())) {
                return false;
            }
        }
        return true;
    }

    /** Merges as {left, right, result} ids; one that uses or makes a token outside the vocabulary names its rank. */
    static int[][] resolveMerges(List<String[]> merges, Map<String, Integer> ids) {
        int[][] resolved = new int[merges.size()][];
        for (int rank = 0; rank < merges.size(); rank++) {
            String[] m = merges.get(rank);
            Integer left = ids.get(m[0]);
            Integer right = ids.get(m[1]);
            Integer result = ids.get(m[0] + m[1]);
            if (left == null || right == null || result == null) {
                throw fail("model.merges[" + rank + "]", "\"" + m[0] + " " + m[1]
                        + "\" uses or makes a token that is not in the vocabulary");
            }
            resolved[rank] = new int[] {left, right, result};
        }
        return resolved;
    }

    static String[] readVocab(JsonNode node) {
        if (!node.isObject() || node.isEmpty()) {
            throw fail("model.vocab", "must be a non-empty object of token -> id");
        }
        String[] vocab = new String[node.size()];
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            JsonNode id = e.getValue();
            if (!id.canConvertToInt() || !id.isIntegralNumber()) {
                throw fail("model.vocab", "id of \"" + e.getKey() + "\" is not an integer");
            }
            int i = id.intValue();
            if (i < 0 || i >= vocab.length) {
                throw fail("model.vocab", "ids must be 0.." + (vocab.length - 1) + " without gaps, \""
                        + e.getKey() + "\" has " + i);
            }
            if (vocab[i] != null) {
                throw fail("model.vocab", "id " + i + " is used by both \"" + vocab[i] + "\" and \"" + e.getKey() + "\"");
            }
            vocab[i] = e.getKey();
        }
        return vocab;
    }

    private static void checkSpecials(String[] vocab, JsonNode added) {
        for (SpecialToken t : SpecialToken.values()) {
            if (t.id() >= vocab.length || !t.text().equals(vocab[t.id()])) {
                throw fail("model.vocab", "special token " + t.text() + " must have id " + t.id());
            }
        }
        if (added.isArray()) {
            for (JsonNode a : added) {
                SpecialToken t = SpecialToken.forId(a.path("id").asInt(-1));
                if (t == null || !t.text().equals(a.path("content").asText())) {
                    throw fail("added_tokens", "only the " + SpecialToken.count()
                            + " Forge special tokens at ids 0.." + (SpecialToken.count() - 1) + " are supported, got "
                            + a);
                }
            }
        }
    }

    static List<String[]> readMerges(JsonNode node) {
        if (node.isMissingNode() || node.isNull()) {
            return List.of();
        }
        if (!node.isArray()) {
            throw fail("model.merges", "must be an array");
        }
        List<String[]> merges = new java.util.ArrayList<>(node.size());
        for (int i = 0; i < node.size(); i++) {
            JsonNode m = node.get(i);
            String[] pair = null;
            if (m.isTextual()) {
                String[] parts = m.textValue().split(" ", -1);
                pair = parts.length == 2 ? parts : null;
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
                pair = new String[] {m.get(0).textValue(), m.get(1).textValue()};
            }
            if (pair == null) {
                throw fail("model.merges[" + i + "]", "must be \"left right\" or [\"left\", \"right\"], got " + m);
            }
            merges.add(pair);
        }
        return merges;
    }

    private static Tokenizer byteLevel(String[] vocab, List<String[]> merges) {
        int specials = SpecialToken.count();
        byte[][] bytes = new byte[vocab.length][];
        Map<String, Integer> ids = new HashMap<>(vocab.length * 2);
        for (int id = specials; id < vocab.length; id++) {
            bytes[id] = ByteLevel.toBytes(vocab[id]);
            if (bytes[id] == null || bytes[id].length == 0) {
                throw fail("model.vocab", "\"" + vocab[id] + "\" (id " + id + ") is not a byte-level token");
            }
            ids.put(vocab[id], id);
        }
        int[][] resolved = resolveMerges(merges, ids);
        try {
            return new BpeTokenizer(bytes, resolved);
        } catch (IllegalArgumentException e) {
            throw fail("model.vocab", e.getMessage());
        }
    }

    private static Tokenizer charLevel(String[] vocab) {
        int specials = SpecialToken.count();
        int[] cps = new int[vocab.length - specials];
        for (int id = specials; id < vocab.length; id++) {
            String tok = vocab[id];
            if (tok.isEmpty() || tok.codePointCount(0, tok.length()) != 1) {
                throw fail("model.vocab", "char-level token \"" + tok + "\" (id " + id + ") is not one character");
            }
            cps[id - specials] = tok.codePointAt(0);
        }
        try {
            return new CharTokenizer(cps);
        } catch (IllegalArgumentException e) {
            throw fail("model.vocab", "char-level tokens must be sorted by code point");
        }
    }

    private static BadInputException fail(String field, String problem) {
        return BadInputException.field(WHERE + " " + field, problem);
    }
}
