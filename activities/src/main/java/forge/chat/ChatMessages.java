package forge.chat;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A JSONL line's {@code "messages": [{"role", "content"}, ...]}, checked the same way wherever chats are read (SFT
 * data, preference prompts): every problem is a {@link BadInputException} naming the file, line and message.
 */
public final class ChatMessages {
    private ChatMessages() {
    }

    /** Roles from {@link Turn#ROLES}, string contents, a system message only first; callers add their own rules. */
    public static List<Turn> parse(JsonNode messages, String file, long line) {
        if (!messages.isArray()) {
            throw BadInputException.at(file, line, "\"messages\" must be an array, got " + kind(messages));
        }
        if (messages.isEmpty()) {
            throw BadInputException.at(file, line, "\"messages\" is empty");
        }
        List<Turn> turns = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            String at = "messages[" + i + "]";
            JsonNode m = messages.get(i);
            if (!m.isObject()) {
                throw BadInputException.at(file, line, at + " must be an object with \"role\" and \"content\", got "
                        + kind(m));
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual()) {
                throw BadInputException.at(file, line, at + ".role must be a string (one of "
                        + String.join(", ", Turn.ROLES) + "), got " + (role == null ? "nothing" : kind(role)));
            }
            String r = role.textValue();
            if (!Turn.ROLES.contains(r)) {
                throw BadInputException.at(file, line, at + ": unknown role \"" + r + "\" (allowed: "
                        + String.join(", ", Turn.ROLES) + ")");
            }
            JsonNode content = m.get("content");
            if (content == null || !content.isTextual()) {
                throw BadInputException.at(file, line, at + ".content must be a string, got "
                        + (content == null ? "nothing" : kind(content)));
            }
            if (r.equals(Turn.SYSTEM) && i > 0) {
                throw BadInputException.at(file, line, at + ": a system message may only come first");
            }
            turns.add(new Turn(r, content.textValue()));
        }
        return turns;
    }

    /** "a string", "an array", ...: what a JSON value is, for error messages. */
    public static String kind(JsonNode v) {
        return switch (v.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            default -> v.getNodeType().toString().toLowerCase(Locale.ROOT);
        };
    }
}
