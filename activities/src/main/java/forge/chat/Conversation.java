package forge.chat;

import java.util.List;

/**
 * An SFT example: turns in order, at most one system turn and only first, at least one assistant turn. Every
 * assistant turn is trained on (see {@link ChatEncoder}); a single prompt/response pair is
 * {@code [user, assistant]}.
 */
public record Conversation(List<Turn> turns) {
    public Conversation {
        turns = List.copyOf(turns);
        if (turns.stream().noneMatch(Turn::isAssistant)) {
            throw new IllegalArgumentException("a conversation needs at least one assistant turn");
        }
        for (int i = 1; i < turns.size(); i++) {
            if (turns.get(i).role().equals(Turn.SYSTEM)) {
                throw new IllegalArgumentException("a system turn may only come first, found one at " + i);
            }
        }
    }

    public static Conversation of(String prompt, String response) {
        return new Conversation(List.of(Turn.user(prompt), Turn.assistant(response)));
    }

    /** Index of the last assistant turn: the "response" that truncation protects. */
    public int lastAssistant() {
        for (int i = turns.size() - 1; i >= 0; i--) {
            if (turns.get(i).isAssistant()) {
                return i;
            }
        }
        throw new IllegalStateException("unreachable: checked in the constructor");
    }
}
