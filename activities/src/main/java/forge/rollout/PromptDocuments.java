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
import java.util.List;

/**
 * Reads rollout prompts from a JSONL file (local path or {@code s3://}, optionally gzipped) or a
 * {@code demo:prompts?seed=7&count=2000} URI. Each non-blank line is {@code {"prompt": "..."}} (optionally with
 * {@code "system"}) or {@code {"messages": [...]}} ending with a user turn, the policy's to answer. Every problem is
 * a {@link BadInputException} naming the file and line.
 */
public final class PromptDocuments {
    private PromptDocuments() {
    }

    /** @param where the config field the source came from, e.g. {@code data.sources[0]} */
    public static List<Prompt> read(SourceSpec src, String where, UriOpener remote) {
        String path = src.path();
        List<Prompt> out = new ArrayList<>();
        if (DemoUri.isDemo(path)) {
            DemoUri demo = DemoUri.parse(path, where + ".path");
            if (!demo.dataset().equals("prompts")) {
                throw BadInputException.field(where + ".path", path + " is not prompt data (use demo:prompts)");
            }
            for (String p : new DemoWorld(demo.seed()).ppoPrompts(demo.count(), demo.split())) {
                out.add(Prompt.of(p));
            }
        } else {
            JsonlReader.read(path, where, remote, (node, line) -> out.add(parse(node, path, line)));
        }
        if (out.isEmpty()) {
            throw new BadInputException(where + ": " + path + " contains no prompts");
        }
        return out;
    }

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
            return new Prompt(turns);
        }
        String prompt = text(node, "prompt", file, line);
        if (prompt == null) {
            throw BadInputException.at(file, line, "missing string field \"prompt\" (or \"messages\")");
        }
        if (prompt.isBlank()) {
            throw BadInputException.at(file, line, "\"prompt\" is empty");
        }
        String system = text(node, "system", file, line);
        return new Prompt(system == null ? List.of(Turn.user(prompt)) : List.of(Turn.system(system), Turn.user(prompt)));
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
