package forge.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * tokenizer.json's decoder: tokens back to text. ByteLevel (printable stand-ins back to bytes, then UTF-8), and the
 * SentencePiece chain Llama 2 ships (Replace "▁" → " ", ByteFallback of {@code <0xAB>} tokens, Fuse, Strip) or a
 * Metaspace decoder. Bytes that do not form UTF-8 become U+FFFD, as in HF.
 */
@FunctionalInterface
interface TokenDecoder {
    /** Tokens in, pieces out (a later step of a Sequence sees the pieces as tokens). */
    List<String> decode(List<String> tokens);

    static TokenDecoder of(JsonNode n, String field) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            return tokens -> List.of(String.join("", tokens));
        }
        String type = n.path("type").asText("");
        return switch (type) {
            case "ByteLevel" -> TokenDecoder::byteLevel;
            case "Replace" -> {
                String from = n.path("pattern").path("String").asText(null);
                if (from == null) {
                    throw BadInputException.field("tokenizer.json " + field + ".pattern", "only String is supported");
                }
                String to = n.path("content").asText();
                yield tokens -> tokens.stream().map(t -> t.replace(from, to)).toList();
            }
            case "ByteFallback" -> TokenDecoder::byteFallback;
            case "Fuse" -> tokens -> List.of(String.join("", tokens));
            case "Strip" -> {
                String content = n.path("content").asText(" ");
                int start = n.path("start").asInt(0);
                int stop = n.path("stop").asInt(0);
                yield tokens -> strip(tokens, content, start, stop);
            }
            case "Metaspace" -> {
                String replacement = n.path("replacement").asText("\u2581");
                boolean stripFirst = !n.path("prepend_scheme").asText("always").equals("never")
                        && n.path("add_prefix_space").asBoolean(true);
                yield tokens -> {
                    List<String> out = new ArrayList<>();
                    for (int i = 0; i < tokens.size(); i++) {
                        String t = tokens.get(i).replace(replacement, " ");
                        out.add(i == 0 && stripFirst && t.startsWith(" ") ? t.substring(1) : t);
                    }
                    return out;
                };
            }
            case "Sequence" -> {
                List<TokenDecoder> steps = new ArrayList<>();
                JsonNode list = n.path("decoders");
                for (int i = 0; i < list.size(); i++) {
                    steps.add(of(list.get(i), field + ".decoders[" + i + "]"));
                }
                yield tokens -> {
                    for (TokenDecoder step : steps) {
                        tokens = step.decode(tokens);
                    }
                    return tokens;
                };
            }
            default -> throw BadInputException.field("tokenizer.json " + field + ".type", "\"" + type
                    + "\" is not supported (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)");
        };
    }

    /** A token whose every char is a byte stand-in becomes those bytes; any other (an added token) its own UTF-8. */
    private static List<String> byteLevel(List<String> tokens) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (String t : tokens) {
            byte[] b = ByteLevel.toBytes(t);
            bytes.writeBytes(b != null ? b : t.getBytes(StandardCharsets.UTF_8));
        }
        return List.of(bytes.toString(StandardCharsets.UTF_8));
    }

    /** Runs of {@code <0xAB>} tokens become the text their bytes spell (U+FFFD per byte if not valid UTF-8). */
    private static List<String> byteFallback(List<String> tokens) {
        List<String> out = new ArrayList<>();
        ByteArrayOutputStream run = new ByteArrayOutputStream();
        for (String t : tokens) {
            int b = byteToken(t);
            if (b >= 0) {
                run.write(b);
                continue;
            }
            flush(run, out);
            out.add(t);
        }
        flush(run, out);
        return out;
    }

    private static void flush(ByteArrayOutputStream run, List<String> out) {
        if (run.size() == 0) {
            return;
        }
        byte[] b = run.toByteArray();
        run.reset();
        try {
            out.add(StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(b)).toString());
        } catch (java.nio.charset.CharacterCodingException e) {
            out.add("\uFFFD".repeat(b.length));
        }
    }

    /** The byte of a {@code <0xAB>} token, or -1. */
    static int byteToken(String t) {
        if (t.length() != 6 || !t.startsWith("<0x") || t.charAt(5) != '>') {
            return -1;
        }
        try {
            return Integer.parseInt(t.substring(3, 5), 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static List<String> strip(List<String> tokens, String content, int start, int stop) {
        List<String> out = new ArrayList<>();
        for (String t : tokens) {
            int from = 0;
            for (int n = 0; n < start && t.startsWith(content, from); n++) {
                from += content.length();
            }
            int to = t.length();
            int removed = 0;
            while (removed < stop && to - content.length() >= from && t.startsWith(content, to - content.length())) {
                to -= content.length();
                removed++;
            }
            out.add(t.substring(from, to));
        }
        return out;
    }
}
