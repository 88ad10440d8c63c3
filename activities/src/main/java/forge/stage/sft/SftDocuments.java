package forge.stage.sft;

import com.fasterxml.jackson.databind.JsonNode;
import forge.chat.ChatMessages;
import forge.chat.Conversation;
import forge.chat.Turn;
import forge.data.JsonlReader;
import forge.data.SourceSpec;
import forge.data.UriOpener;
import forge.demo.DemoUri;
import forge.demo.DemoWorld;
import forge.demo.SftExample;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads SFT conversations from a JSONL file (local path, {@code s3://}, optionally gzipped) or a
 * {@code demo:sft?seed=7&count=2000&split=train} URI. Each non-blank line is one of:
 * <ul>
 *   <li>{@code {"prompt": "...", "response": "..."}}, optionally with {@code "system": "..."};</li>
 *   <li>{@code {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}} (the OpenAI / TRL
 *       conversational format; other keys on the line or on a message are ignored).</li>
 * </ul>
 * A line with a "messages" key is a chat; otherwise it must have "prompt" and "response". Every problem is a
 * {@link BadInputException} naming the file and line. The SourceSpec's format and field are not used: SFT files are
 * always JSONL.
 */
public final class SftDocuments {
    private SftDocuments() {
    }

    /** @param remote opens {@code s3://} paths; null where no object store is configured */
    public static List<Conversation> read(SourceSpec src, int sourceIndex, UriOpener remote) {
        String where = "data.sources[" + sourceIndex + "]";
        String path = src.path();
        List<Conversation> out = new ArrayList<>();
        if (DemoUri.isDemo(path)) {
            DemoUri demo = DemoUri.parse(path, where + ".path");
            if (!demo.dataset().equals("sft")) {
                throw BadInputException.field(where + ".path", path + " is not SFT data (use demo:sft)");
            }
            for (SftExample e : new DemoWorld(demo.seed()).sftExamples(demo.count(), demo.split())) {
                out.add(Conversation.of(e.prompt(), e.response()));
            }
        } else {
            JsonlReader.read(path, where, remote, (node, line) -> out.add(parse(node, path, line)));
        }
        if (out.isEmpty()) {
            throw new BadInputException(where + ": " + path + " contains no SFT examples");
        }
        return out;
    }

    /** One parsed line; public so other readers (e.g. an eval set) can share the exact rules and messages. */
    public static Conversation parse(JsonNode node, String file, long line) {
        if (!node.isObject()) {
            throw BadInputException.at(file, line, "expected a JSON object with \"prompt\" and \"response\" or "
                    + "\"messages\", got " + kind(node));
        }
        return node.has("messages") ? chat(node.get("messages"), file, line) : pair(node, file, line);
    }

    private static Conversation pair(JsonNode node, String file, long line) {
        String prompt = string(node, "prompt", file, line, true);
        String response = string(node, "response", file, line, true);
        String system = string(node, "system", file, line, false);
        if (response.isBlank()) {
            throw BadInputException.at(file, line, "\"response\" is empty; there is nothing to learn from this line");
        }
        List<Turn> turns = new ArrayList<>(3);
        if (system != null) {
            turns.add(Turn.system(system));
        }
        turns.add(Turn.user(prompt));
        turns.add(Turn.assistant(response));
        return new Conversation(turns);
    }

    private static String string(JsonNode node, String field, String file, long line, boolean required) {
        JsonNode v = node.get(field);
        if (v == null || (v.isNull() && !required)) {
            if (required) {
                throw BadInputException.at(file, line, "missing string field \"" + field + "\" (expected \"prompt\" "
                        + "and \"response\", or \"messages\")");
            }
            return null;
        }
        if (!v.isTextual()) {
            throw BadInputException.at(file, line, "\"" + field + "\" must be a string, got " + kind(v));
        }
        return v.textValue();
    }

    private static Conversation chat(JsonNode messages, String file, long line) {
        List<Turn> turns = ChatMessages.parse(messages, file, line);
        boolean anyAssistant = false;
        for (int i = 0; i < turns.size(); i++) {
            if (turns.get(i).isAssistant()) {
                if (turns.get(i).content().isBlank()) {
                    throw BadInputException.at(file, line, "messages[" + i + "]: empty assistant turn");
                }
                anyAssistant = true;
            }
        }
        if (!anyAssistant) {
            throw BadInputException.at(file, line, "chat has no assistant turn; there is nothing to learn from it");
        }
        return new Conversation(turns);
    }

    private static String kind(JsonNode v) {
        return ChatMessages.kind(v);
    }
}
