package forge.rollout;

import com.fasterxml.jackson.databind.JsonNode;
import forge.chat.ChatMessages;
import forge.chat.Turn;
import forge.data.JsonlReader;
import forge.data.SourceSpec;
import forge.data.UriOpener;
import forge.demo.DemoUri;
import forge.demo.DemoWorld;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads rollout prompts from a JSONL file (local path or {@code s3://}, optionally gzipped) or a
 * {@code demo:prompts?seed=7&count=2000} URI. Each non-blank line is {@code {"prompt": "..."}} (optionally with
 * {@code "system"}) or {@code {"messages": [...]}} ending with a user turn, the policy's to answer. Every problem is
 * a {@link BadInputException} naming the file and line. The row's other scalar fields (GSM8K's {@code "answer"}, say)
 * travel with the prompt for verifiers to read; demo prompts carry their right {@code answer}.
 */
public final class PromptDocuments {
    private PromptDocuments() {
    }

    /** @param where the config field the source came from, e.g. {@code data.sources[0]} */
    public static List<Prompt> read(SourceSpec src, String where, UriOpener remote) {
        return read(src, where, remote, Map.of());
    }

    /**
     * @param required fields every row must have, each with the reason (e.g. {@code answer} → "rewards[0] (exact_number)
     *                 compares with it"), so a missing one is refused at its line before training starts
     */
    public static List<Prompt> read(SourceSpec src, String where, UriOpener remote, Map<String, String> required) {
        String path = src.path();
        List<Prompt> out = new ArrayList<>();
        if (DemoUri.isDemo(path)) {
            DemoUri demo = DemoUri.parse(path, where + ".path");
            if (!demo.dataset().equals("prompts")) {
                throw BadInputException.field(where + ".path", path + " is not prompt data (use demo:prompts)");
            }
            DemoWorld world = new DemoWorld(demo.seed());
            for (String p : world.ppoPrompts(demo.count(), demo.split())) {
                out.add(new Prompt(List.of(Turn.user(p)), Map.of(ANSWER, String.valueOf(world.answer(p).orElseThrow()))));
            }
        } else {
            JsonlReader.read(path, where, remote, (node, line) -> {
                Prompt p = parse(node, path, line);
                required.forEach((field, why) -> {
                    if (p.field(field) == null) {
                        throw BadInputException.at(path, line, "no \"" + field + "\" field, which " + why);
                    }
                });
                out.add(p);
            });
        }
        if (out.isEmpty()) {
            throw new BadInputException(where + ": " + path + " contains no prompts");
        }
        return out;
    }

    /** The field demo prompts carry their right answer in, and GSM8K-style files their reference answer. */
    public static final String ANSWER = "answer";
    private static final Set<String> CONVERSATION = Set.of("prompt", "messages", "system");

    public static Prompt parse(JsonNode node, String file, long line) {
        if (!node.isObject()) {
            throw BadInputException.at(file, line, "expected a JSON object with \"prompt\" or \"messages\", got "
                    + ChatMessages.kind(node));
        }
        if (node.has("messages")) {
            List<Turn> turns = ChatMessages.parse(node.get("messages"), file, line);
            if (!turns.get(turns.size() - 1).role().equals(Turn.USER)) {
                throw BadInputException.at(file, line, "the last message must be the user's: it is what the policy "
                        + "answers (drop the assistant's reply from prompt data)");
            }
            return new Prompt(turns, fields(node));
        }
        String prompt = text(node, "prompt", file, line);
        if (prompt == null) {
            throw BadInputException.at(file, line, "missing string field \"prompt\" (or \"messages\")");
        }
        if (prompt.isBlank()) {
            throw BadInputException.at(file, line, "\"prompt\" is empty");
        }
        String system = text(node, "system", file, line);
        return new Prompt(system == null ? List.of(Turn.user(prompt)) : List.of(Turn.system(system), Turn.user(prompt)),
                fields(node));
    }

    /** The row's strings and numbers besides the conversation; nested values are metadata nobody verifies against. */
    private static Map<String, String> fields(JsonNode node) {
        Map<String, String> out = new LinkedHashMap<>();
        node.fields().forEachRemaining(e -> {
            if (!CONVERSATION.contains(e.getKey()) && (e.getValue().isTextual() || e.getValue().isNumber())) {
                out.put(e.getKey(), e.getValue().asText());
            }
        });
        return out;
    }

    private static String text(JsonNode node, String field, String file, long line) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw BadInputException.at(file, line, "\"" + field + "\" must be a string, got " + ChatMessages.kind(v));
        }
        return v.textValue();
    }
}
