package forge.rollout;

import forge.chat.Turn;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A rollout prompt: the conversation so far, ending with the user's turn the policy answers, and the row's other
 * fields (a reference {@code answer}, say) that verifiers read.
 *
 * @param fields the data row's scalar fields besides the conversation, as text; sorted, so equal rows print equally
 */
public record Prompt(List<Turn> context, Map<String, String> fields) {
    public Prompt {
        context = List.copyOf(context);
        fields = java.util.Collections.unmodifiableMap(new TreeMap<>(fields));
        if (context.isEmpty() || !context.get(context.size() - 1).role().equals(Turn.USER)) {
            throw new IllegalArgumentException("a prompt must end with a user turn");
        }
    }

    public Prompt(List<Turn> context) {
        this(context, Map.of());
    }

    public static Prompt of(String user) {
        return new Prompt(List.of(Turn.user(user)));
    }

    /** The question being answered: what a ground-truth grader reads. */
    public String lastUserTurn() {
        return context.get(context.size() - 1).content();
    }

    /** The row's field, or null when it has none. */
    public String field(String name) {
        return fields.get(name);
    }
}
