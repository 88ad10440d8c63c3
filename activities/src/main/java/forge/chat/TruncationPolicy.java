package forge.chat;

import forge.errors.BadInputException;

import java.util.Locale;

/** What {@link ChatEncoder#encodeAll} does with a conversation longer than block_size + 1 tokens. */
public enum TruncationPolicy {
    /**
     * The default. Keep the last block_size + 1 tokens, i.e. drop tokens from the start of the prompt (system turn
     * and earlier turns first) and keep the whole final assistant turn. When the final assistant turn (its
     * {@code <|assistant|>} marker, content and {@code <|end|>}) does not fit with at least one token of context
     * before it, the example is skipped. Both cases are counted in {@link ChatEncoder.Encoded} and logged.
     */
    TRUNCATE_PROMPT_LEFT,
    /**
     * Drop every over-long example (counted as skipped, logged). For data where the start of the prompt carries
     * the facts the answer needs (the demo world's story questions), so a left-truncated prompt would teach the
     * model to answer without them.
     */
    SKIP,
    /** Any over-long example is a {@link BadInputException} naming the source and the example. */
    FAIL;

    public static final TruncationPolicy DEFAULT = TRUNCATE_PROMPT_LEFT;

    /** "truncate_prompt_left", "skip" or "fail" (any case, '-' for '_'); null or blank gives {@link #DEFAULT}. */
    public static TruncationPolicy parse(String text, String field) {
        if (text == null || text.isBlank()) {
            return DEFAULT;
        }
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            throw BadInputException.field(field, "must be truncate_prompt_left, skip or fail, got \"" + text + "\"");
        }
    }
}
