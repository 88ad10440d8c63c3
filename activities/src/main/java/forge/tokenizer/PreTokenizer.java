package forge.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * tokenizer.json's pre_tokenizer: cuts normalised text into the words BPE never merges across. ByteLevel (GPT-2's
 * regex, then every UTF-8 byte as its printable stand-in), Split with a regex as Llama 3 and Qwen2 configure it
 * (followed by a ByteLevel without regex), Metaspace (SentencePiece's "▁"), Digits, and Sequences of them.
 */
interface PreTokenizer {
    PreTokenizer NONE = (words, first) -> words;

    /**
     * @param words the pieces so far
     * @param first whether this text is the start of the input (Metaspace's prepend_scheme "first")
     */
    List<String> split(List<String> words, boolean first);

    static PreTokenizer of(JsonNode n, String field) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            return NONE;
        }
        String type = n.path("type").asText("");
        return switch (type) {
            case "ByteLevel" -> byteLevel(n.path("add_prefix_space").asBoolean(false), n.path("use_regex").asBoolean(true));
            case "Split" -> split(n, field);
            case "Metaspace" -> metaspace(n, field);
            case "Digits" -> digits(n.path("individual_digits").asBoolean(false));
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                JsonNode list = n.path("pretokenizers");
                for (int i = 0; i < list.size(); i++) {
                    steps.add(of(list.get(i), field + ".pretokenizers[" + i + "]"));
                }
                yield (words, first) -> {
                    for (PreTokenizer step : steps) {
                        words = step.split(words, first);
                    }
                    return words;
                };
            }
            default -> throw BadInputException.field("tokenizer.json " + field + ".type", "\"" + type
                    + "\" is not supported (ByteLevel, Split, Metaspace, Digits, Sequence)");
        };
    }

    private static PreTokenizer byteLevel(boolean addPrefixSpace, boolean useRegex) {
        return (words, first) -> {
            List<String> out = new ArrayList<>();
            for (int w = 0; w < words.size(); w++) {
                String word = words.get(w);
                if (addPrefixSpace && w == 0 && !word.startsWith(" ")) {
                    word = " " + word;
                }
                if (useRegex) {
                    String text = word;
                    Gpt2PreTokenizer.split(text, (s, e) -> out.add(ByteLevel.toText(
                            text.substring(s, e).getBytes(StandardCharsets.UTF_8))));
                } else {
                    out.add(ByteLevel.toText(word.getBytes(StandardCharsets.UTF_8)));
                }
            }
            return out;
        };
    }

    /** HF's Split with behavior Isolated (matches and the text between them are pieces) or Removed. */
    private static PreTokenizer split(JsonNode n, String field) {
        JsonNode pattern = n.path("pattern");
        Pattern p;
        if (pattern.has("Regex")) {
            try {
                p = Pattern.compile(pattern.get("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
            } catch (java.util.regex.PatternSyntaxException e) {
                throw BadInputException.field("tokenizer.json " + field + ".pattern.Regex", e.getDescription());
            }
        } else if (pattern.has("String")) {
            p = Pattern.compile(Pattern.quote(pattern.get("String").asText()));
        } else {
            throw BadInputException.field("tokenizer.json " + field + ".pattern", "needs String or Regex");
        }
        String behavior = n.path("behavior").asText("Isolated");
        if (!behavior.equals("Isolated") && !behavior.equals("Removed")) {
            throw BadInputException.field("tokenizer.json " + field + ".behavior", "\"" + behavior
                    + "\" is not supported (Isolated, Removed)");
        }
        if (n.path("invert").asBoolean(false)) {
            throw BadInputException.field("tokenizer.json " + field + ".invert", "true is not supported");
        }
        boolean keepMatches = behavior.equals("Isolated");
        return (words, first) -> {
            List<String> out = new ArrayList<>();
            for (String word : words) {
                Matcher m = p.matcher(word);
                int at = 0;
                while (m.find()) {
                    if (m.end() == m.start()) {
                        continue;
                    }
                    if (m.start() > at) {
                        out.add(word.substring(at, m.start()));
                    }
                    if (keepMatches) {
                        out.add(m.group());
                    }
                    at = m.end();
                }
                if (at < word.length()) {
                    out.add(word.substring(at));
                }
            }
            return out;
        };
    }

    /** SentencePiece's view of text: spaces become "▁", one is prepended, and (split) each word starts at a "▁". */
    private static PreTokenizer metaspace(JsonNode n, String field) {
        String replacement = n.path("replacement").asText("\u2581");
        String scheme = n.has("prepend_scheme") ? n.get("prepend_scheme").asText()
                : n.path("add_prefix_space").asBoolean(true) ? "always" : "never";
        if (!List.of("always", "first", "never").contains(scheme)) {
            throw BadInputException.field("tokenizer.json " + field + ".prepend_scheme", "\"" + scheme
                    + "\" is not supported (always, first, never)");
        }
        boolean split = n.path("split").asBoolean(true);
        return (words, first) -> {
            List<String> out = new ArrayList<>();
            for (int w = 0; w < words.size(); w++) {
                String word = words.get(w).replace(" ", replacement);
                boolean prepend = scheme.equals("always") || scheme.equals("first") && first && w == 0;
                if (prepend && !word.startsWith(replacement)) {
                    word = replacement + word;
                }
                if (!split) {
                    out.add(word);
                    continue;
                }
                int start = 0;
                for (int i = replacement.length(); i <= word.length(); i++) {
                    if (i == word.length() || word.startsWith(replacement, i)) {
                        if (i > start) {
                            out.add(word.substring(start, i));
                        }
                        start = i;
                    }
                }
            }
            return out;
        };
    }

    private static PreTokenizer digits(boolean individual) {
        Pattern p = Pattern.compile(individual ? "\\p{Nd}" : "\\p{Nd}+", Pattern.UNICODE_CHARACTER_CLASS);
        return (words, first) -> {
            List<String> out = new ArrayList<>();
            for (String word : words) {
                Matcher m = p.matcher(word);
                int at = 0;
                while (m.find()) {
                    if (m.start() > at) {
                        out.add(word.substring(at, m.start()));
                    }
                    out.add(m.group());
                    at = m.end();
                }
                if (at < word.length()) {
                    out.add(word.substring(at));
                }
            }
            return out;
        };
    }
}
