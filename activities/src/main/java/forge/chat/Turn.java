package forge.chat;

import java.util.List;
import java.util.Objects;

/**
 * One message of a conversation.
 *
 * @param role    {@link #SYSTEM}, {@link #USER} or {@link #ASSISTANT}
 * @param content the text, never null
 */
public record Turn(String role, String content) {
    public static final String SYSTEM = "system";
    public static final String USER = "user";
    public static final String ASSISTANT = "assistant";
    public static final List<String> ROLES = List.of(SYSTEM, USER, ASSISTANT);

    public Turn {
        Objects.requireNonNull(content, "content");
        if (!ROLES.contains(role)) {
            throw new IllegalArgumentException("role must be one of " + ROLES + ", got \"" + role + "\"");
        }
    }

    public static Turn system(String content) {
        return new Turn(SYSTEM, content);
    }

    public static Turn user(String content) {
        return new Turn(USER, content);
    }

    public static Turn assistant(String content) {
        return new Turn(ASSISTANT, content);
    }

    public boolean isAssistant() {
        return role.equals(ASSISTANT);
    }
}
