package forge.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A published checkpoint's {@code tokenizer.json} (BPE model), encoding as Hugging Face tokenizers does: added
 * tokens first, then the normalizer, the pre-tokenizer and BPE merges on each remaining stretch. Covers byte-level
 * BPE (GPT-2, Llama 3, Qwen2, SmolLM2) and SentencePiece-style BPE with byte fallback (Llama 2, Mistral). Anything
 * else in the file fails when it is read, naming the field.
 *
 * <p>Unlike Forge's own tokenizers the special tokens have the checkpoint's ids: {@link #id(SpecialToken)} maps
 * Forge's roles onto them (end of text is the checkpoint's eos). The file is kept as read, so an export writes back
 * exactly what came in.
 */
public final class PretrainedTokenizer implements Tokenizer {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String WHERE = "tokenizer.json";

    private final String json;
    private final HfTokenizerConfig config;
    private final String[] tokens;           // by id, added tokens included
    private final Map<String, Integer> ids;
    private final boolean[] special;         // by id
    private final AddedTokenMatcher added;
    private final TextNormalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final TokenDecoder decoder;
    private final BpeMerges merges;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final int unk;                   // -1 when the model has no unk_token
    private final int[] prefix;              // what the post-processor puts around a text (Llama's bos), or none
    private final int[] suffix;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    private PretrainedTokenizer(String json, JsonNode root, HfTokenizerConfig config) {
        this.json = json;
        this.config = config;
        JsonNode model = root.path("model");
        if (!model.isObject()) {
            throw fail("model", "is missing");
        }
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) {
            throw fail("model.type", "\"" + type + "\" is not supported (only BPE: GPT-2, Llama, Qwen2, Mistral)");
        }
        for (String unsupported : List.of("continuing_subword_prefix", "end_of_word_suffix", "dropout")) {
            if (!model.path(unsupported).isMissingNode() && !model.path(unsupported).isNull()) {
                throw fail("model." + unsupported, model.get(unsupported) + " is not supported");
            }
        }
        String[] vocab = HuggingFaceJson.readVocab(model.path("vocab"));
        List<AddedToken> addedTokens = readAdded(root.path("added_tokens"));
        int size = vocab.length;
        for (AddedToken t : addedTokens) {
            size = Math.max(size, t.id() + 1);
        }
        tokens = new String[size];
        System.arraycopy(vocab, 0, tokens, 0, vocab.length);
        special = new boolean[size];
        ids = new HashMap<>(size * 2);
        for (int id = 0; id < vocab.length; id++) {
            ids.put(vocab[id], id);
        }
        for (AddedToken t : addedTokens) {
            if (tokens[t.id()] != null && !tokens[t.id()].equals(t.content())) {
                throw fail("added_tokens", "id " + t.id() + " is \"" + t.content() + "\" but the vocabulary has \""
                        + tokens[t.id()] + "\"");
            }
            tokens[t.id()] = t.content();
            ids.put(t.content(), t.id());
            special[t.id()] = t.special();
        }
        for (int id = 0; id < size; id++) {
            if (tokens[id] == null) {
                throw fail("added_tokens", "no token has id " + id + " (ids must be 0.." + (size - 1) + ")");
            }
        }
        added = new AddedTokenMatcher(addedTokens);
        normalizer = TextNormalizer.of(root.get("normalizer"), "normalizer");
        preTokenizer = PreTokenizer.of(root.get("pre_tokenizer"), "pre_tokenizer");
        decoder = TokenDecoder.of(root.get("decoder"), "decoder");
        String post = root.path("post_processor").path("type").asText("");
        if (!post.isEmpty() && !post.equals("ByteLevel") && !post.equals("TemplateProcessing")
                && !post.equals("Sequence")) {
            throw fail("post_processor.type", "\"" + post + "\" is not supported (ByteLevel, TemplateProcessing)");
        }
        JsonNode template = templateProcessing(root.path("post_processor"));
        IntList before = new IntList(2);
        IntList after = new IntList(2);
        if (template != null) {
            boolean seenText = false;
            for (JsonNode piece : template.path("single")) {
                if (piece.has("Sequence")) {
                    seenText = true;
                } else if (piece.has("SpecialToken")) {
                    String content = piece.get("SpecialToken").path("id").asText();
                    Integer id = ids.get(content);
                    if (id == null) {
                        throw fail("post_processor.single", "special token \"" + content + "\" is not in the vocabulary");
                    }
                    (seenText ? after : before).add(id);
                }
            }
        }
        prefix = before.toArray();
        suffix = after.toArray();
        byteFallback = model.path("byte_fallback").asBoolean(false);
        ignoreMerges = model.path("ignore_merges").asBoolean(false);
        String unkToken = model.path("unk_token").isTextual() ? model.get("unk_token").textValue() : null;
        unk = unkToken == null ? -1 : ids.getOrDefault(unkToken, -1);
        if (unkToken != null && unk < 0) {
            throw fail("model.unk_token", "\"" + unkToken + "\" is not in the vocabulary");
        }
        List<String[]> mergeText = HuggingFaceJson.readMerges(model.path("merges"));
        int[][] resolved = HuggingFaceJson.resolveMerges(mergeText, ids);
        merges = new BpeMerges(resolved);
        for (String role : new String[] {config.bosToken(), config.eosToken(), config.padToken()}) {
            if (role != null && !ids.containsKey(role)) {
                throw BadInputException.field("tokenizer_config.json", "special token \"" + role
                        + "\" is not in tokenizer.json");
            }
        }
    }

    /**
     * @param tokenizerJson tokenizer.json's text
     * @param config        what tokenizer_config.json says (roles of the special tokens, chat template)
     */
    public static PretrainedTokenizer read(String tokenizerJson, HfTokenizerConfig config) {
        if (tokenizerJson == null || tokenizerJson.isBlank()) {
            throw new BadInputException(WHERE + ": is empty");
        }
        JsonNode root;
        try {
            root = JSON.readTree(tokenizerJson);
        } catch (JsonProcessingException e) {
            throw new BadInputException(WHERE + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (root == null || !root.isObject()) {
            throw new BadInputException(WHERE + ": must be a JSON object");
        }
        return new PretrainedTokenizer(tokenizerJson, root, config);
    }

    private static List<AddedToken> readAdded(JsonNode list) {
        List<AddedToken> out = new ArrayList<>();
        if (list.isMissingNode() || list.isNull()) {
            return out;
        }
        for (int i = 0; i < list.size(); i++) {
            JsonNode a = list.get(i);
            if (!a.path("id").canConvertToInt() || !a.path("content").isTextual()) {
                throw fail("added_tokens[" + i + "]", "needs an integer id and a string content, got " + a);
            }
            out.add(new AddedToken(a.get("id").intValue(), a.get("content").textValue(),
                    a.path("special").asBoolean(false), a.path("lstrip").asBoolean(false),
                    a.path("rstrip").asBoolean(false), a.path("single_word").asBoolean(false)));
        }
        return out;
    }

    /** The TemplateProcessing step of a post_processor (alone or in a Sequence), or null. */
    private static JsonNode templateProcessing(JsonNode post) {
        String type = post.path("type").asText("");
        if (type.equals("TemplateProcessing")) {
            return post;
        }
        if (type.equals("Sequence")) {
            for (JsonNode p : post.path("processors")) {
                JsonNode t = templateProcessing(p);
                if (t != null) {
                    return t;
                }
            }
        }
        return null;
    }

    /**
     * A text's ids as {@code tokenizer(text)} gives them in transformers (add_special_tokens=True): with what the
     * post-processor adds around it, e.g. Llama 3's {@code <|begin_of_text|>}; GPT-2-style tokenizers add nothing.
     */
    public int[] encodeWithPostProcessor(String text) {
        int[] body = encode(text);
        int[] out = new int[prefix.length + body.length + suffix.length];
        System.arraycopy(prefix, 0, out, 0, prefix.length);
        System.arraycopy(body, 0, out, prefix.length, body.length);
        System.arraycopy(suffix, 0, out, prefix.length + body.length, suffix.length);
        return out;
    }

    public HfTokenizerConfig config() {
        return config;
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    /** User text: special tokens in it are encoded as ordinary text (see {@link Tokenizer#encode}). */
    @Override
    public int[] encode(String text) {
        return encode(text, false, null);
    }

    /**
     * Text that may hold special tokens where they are meant, e.g. a rendered chat template.
     *
     * @param untrusted chars (by index) that came from user data: no special token matches across them (null: none)
     */
    public int[] encodeWithSpecials(String text, BitSet untrusted) {
        return encode(text, true, untrusted);
    }

    private int[] encode(String text, boolean specials, BitSet untrusted) {
        IntList out = new IntList(text.length() / 3 + 1);
        boolean first = true;
        for (AddedTokenMatcher.Piece p : added.split(text, specials, untrusted)) {
            if (p.id() >= 0) {
                out.add(p.id());
            } else {
                String plain = normalizer.normalize(text.substring(p.start(), p.end()));
                for (String word : preTokenizer.split(List.of(plain), first)) {
                    for (int id : word(word)) {
                        out.add(id);
                    }
                }
            }
            first = false;
        }
        return out.toArray();
    }

    /** One pre-tokenized word's ids: the whole word if ignore_merges and it is a token, else its merged symbols. */
    private int[] word(String word) {
        if (word.isEmpty()) {
            return new int[0];
        }
        return cache.computeIfAbsent(word, w -> {
            Integer whole = ids.get(w);
            if (ignoreMerges && whole != null) {
                return new int[] {whole};
            }
            IntList sym = new IntList(w.length());
            for (int i = 0; i < w.length(); ) {
                int cp = w.codePointAt(i);
                String ch = w.substring(i, i + Character.charCount(cp));
                i += ch.length();
                Integer id = ids.get(ch);
                if (id != null) {
                    sym.add(id);
                } else if (byteFallback) {
                    for (byte b : ch.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
                        Integer bid = ids.get(String.format("<0x%02X>", b & 0xFF));
                        if (bid == null) {
                            throw new BadInputException(WHERE + ": byte_fallback is on but the vocabulary lacks "
                                    + String.format("<0x%02X>", b & 0xFF));
                        }
                        sym.add(bid);
                    }
                } else if (unk >= 0) {
                    sym.add(unk);
                } else {
                    throw new BadInputException(WHERE + ": \"" + ch + "\" has no token and the model has no unk_token");
                }
            }
            return merges.apply(sym.toArray());
        }).clone();
    }

    @Override
    public String decode(int[] ids, boolean skipSpecial) {
        // HF decodes runs of ordinary tokens through the decoder and writes added tokens as they are.
        StringBuilder out = new StringBuilder();
        List<String> run = new ArrayList<>();
        for (int id : ids) {
            if (id < 0 || id >= tokens.length) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (" + tokens.length + ")");
            }
            if (special[id]) {
                flush(run, out);
                if (!skipSpecial) {
                    out.append(tokens[id]);
                }
            } else {
                run.add(tokens[id]);
            }
        }
        flush(run, out);
        return out.toString();
    }

    private void flush(List<String> run, StringBuilder out) {
        if (!run.isEmpty()) {
            decoder.decode(run).forEach(out::append);
            run.clear();
        }
    }

    /**
     * Forge's roles on the checkpoint's tokens: end of text and end of turn are eos (what generation stops at), pad
     * is pad (else eos), unknown is unk. Turn markers are the chat template's business, not ids.
     */
    @Override
    public int id(SpecialToken token) {
        String text = switch (token) {
            case END_OF_TEXT, END_OF_TURN -> config.eosToken();
            case PAD -> config.padToken() != null ? config.padToken() : config.eosToken();
            case UNKNOWN -> unk >= 0 ? tokens[unk] : null;
            default -> null;
        };
        if (text == null) {
            throw new BadInputException("tokenizer_config.json: the checkpoint's tokenizer has no " + token.name()
                    .toLowerCase(java.util.Locale.ROOT) + " token; its chat template says how turns are marked");
        }
        return ids.get(text);
    }

    /** The id of a token's text, or -1. */
    public int tokenId(String text) {
        return text == null ? -1 : ids.getOrDefault(text, -1);
    }

    public String token(int id) {
        return tokens[id];
    }

    /** Whether an id is one of the checkpoint's special added tokens (decoding with skipSpecial drops it). */
    public boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }

    @Override
    public String type() {
        return "pretrained";
    }

    @Override
    public String toHuggingFaceJson() {
        return json;
    }

    private static BadInputException fail(String field, String problem) {
        return BadInputException.field(WHERE + " " + field, problem);
    }
}
