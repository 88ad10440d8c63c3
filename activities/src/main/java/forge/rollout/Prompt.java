package forge.rollout;

import forge.chat.Turn;

import java.util.List;

/** A rollout prompt: the conversation so far, ending with the user's turn the policy answers. */
public record Prompt(List<Turn> context) {
    public Prompt {
        context = List.copyOf(context);
        if (context.isEmpty() || !context.get(context.size() - 1).role().equals(Turn.USER)) {
            throw new IllegalArgumentException("a prompt must end with a user turn");
        }
    }

    public static Prompt of(String user) {
        return new Prompt(List.of(Turn.user(user)));
    }

    /** The question being answered: what a ground-truth grader reads. */
    public String lastUserTurn() {
        return context.get(context.size() - 1).content();
    }
}
