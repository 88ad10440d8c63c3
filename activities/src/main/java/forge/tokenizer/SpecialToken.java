package forge.tokenizer;

/**
 * Tokens every Forge tokenizer reserves at ids 0..6, in this order, so that chat templates, padding and document
 * separators work the same for every model. They are never produced by {@link Tokenizer#encode} from user text:
 * a document that happens to contain "&lt;|endoftext|&gt;" must not be able to end itself.
 */
public enum SpecialToken {
    END_OF_TEXT("<|endoftext|>"),
    PAD("<|pad|>"),
    UNKNOWN("<|unk|>"),
    SYSTEM("<|system|>"),
    USER("<|user|>"),
    ASSISTANT("<|assistant|>"),
    END_OF_TURN("<|end|>");

    private final String text;

    SpecialToken(String text) {
        this.text = text;
    }

    public String text() {
        return text;
    }

    /** The id every Forge tokenizer gives this token. */
    public int id() {
        return ordinal();
    }

    public static int count() {
        return values().length;
    }

    /** The special token with this id, or null when the id is an ordinary token. */
    public static SpecialToken forId(int id) {
        SpecialToken[] all = values();
        return id >= 0 && id < all.length ? all[id] : null;
    }
}
