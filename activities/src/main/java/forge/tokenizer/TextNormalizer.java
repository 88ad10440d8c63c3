package forge.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * tokenizer.json's normalizer, applied to each stretch of text between added tokens: the Unicode forms Qwen2 and
 * others use, and the Prepend("▁") + Replace(" ", "▁") pair of SentencePiece-style (Llama 2, Mistral) tokenizers.
 */
@FunctionalInterface
interface TextNormalizer {
    TextNormalizer NONE = s -> s;

    String normalize(String text);

    static TextNormalizer of(JsonNode n, String field) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            return NONE;
        }
        String type = n.path("type").asText("");
        return switch (type) {
            case "NFC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFKC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            case "Lowercase" -> s -> s.toLowerCase(java.util.Locale.ROOT);
            case "Prepend" -> {
                String prefix = n.path("prepend").asText();
                yield s -> s.isEmpty() ? s : prefix + s;
            }
            case "Replace" -> {
                String content = n.path("content").asText();
                JsonNode pattern = n.path("pattern");
                if (pattern.has("String")) {
                    String from = pattern.get("String").asText();
                    yield s -> s.replace(from, content);
                }
                if (pattern.has("Regex")) {
                    Pattern p = Pattern.compile(pattern.get("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
                    String replacement = java.util.regex.Matcher.quoteReplacement(content);
                    yield s -> p.matcher(s).replaceAll(replacement);
                }
                throw BadInputException.field("tokenizer.json " + field + ".pattern", "needs String or Regex");
            }
            case "Sequence" -> {
                List<TextNormalizer> steps = new ArrayList<>();
                JsonNode list = n.path("normalizers");
                for (int i = 0; i < list.size(); i++) {
                    steps.add(of(list.get(i), field + ".normalizers[" + i + "]"));
                }
                yield s -> {
                    for (TextNormalizer step : steps) {
                        s = step.normalize(s);
                    }
                    return s;
                };
            }
            default -> throw BadInputException.field("tokenizer.json " + field + ".type", "\"" + type
                    + "\" is not supported (NFC, NFKC, NFD, NFKD, Lowercase, Prepend, Replace, Sequence)");
        };
    }
}
