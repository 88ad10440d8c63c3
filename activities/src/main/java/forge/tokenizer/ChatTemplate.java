package forge.tokenizer;

import java.util.Arrays;

/**
 * The one conversation layout every stage uses, so SFT, the reward model and PPO see prompts the same way:
 * {@code <|user|>prompt<|end|><|assistant|>response<|end|>}. The turn markers are special ids that user text can
 * never produce (see {@link Tokenizer#encode}).
 */
public final class ChatTemplate {
    private ChatTemplate() {
    }

    /** The ids the model is given to answer: the user turn, then the assistant marker it continues from. */
    public static int[] prompt(Tokenizer t, String userText) {
        return concat(new int[] {t.id(SpecialToken.USER)}, t.encode(userText),
                new int[] {t.id(SpecialToken.END_OF_TURN), t.id(SpecialToken.ASSISTANT)});
    }

    /** The ids of an assistant response, closed by the end-of-turn marker the model learns to stop at. */
    public static int[] response(Tokenizer t, String responseText) {
        return concat(t.encode(responseText), new int[] {t.id(SpecialToken.END_OF_TURN)});
    }

    /** The same layout as text, for logs and for tools that take a string. */
    public static String text(String userText, String responseText) {
        return SpecialToken.USER.text() + userText + SpecialToken.END_OF_TURN.text() + SpecialToken.ASSISTANT.text()
                + responseText + SpecialToken.END_OF_TURN.text();
    }

    private static int[] concat(int[]... parts) {
        int n = Arrays.stream(parts).mapToInt(p -> p.length).sum();
        int[] out = new int[n];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
