package forge.tokenizer;

import forge.errors.BadInputException;

/**
 * How to train a tokenizer.
 *
 * @param type       "char" (one token per code point) or "bpe" (GPT-2 style byte-level BPE)
 * @param vocabSize  bpe: the total vocabulary including the specials and the 256 byte tokens; char: a cap on the
 *                   vocabulary (the most frequent characters win), 0 for every character the corpus has
 * @param trainChars how many characters of the corpus, from the start, the tokenizer learns from; 0 means
 *                   {@link #DEFAULT_TRAIN_CHARS}
 */
public record TokenizerConfig(String type, int vocabSize, long trainChars) {
    public static final long DEFAULT_TRAIN_CHARS = 2_000_000L;
    public static final long MAX_TRAIN_CHARS = 1_000_000_000L;
    /** Smallest useful bpe vocabulary: the specials, every byte, and at least one merge. */
    public static final int MIN_BPE_VOCAB = SpecialToken.count() + 256 + 1;

    public TokenizerConfig {
        if (type == null || type.isBlank()) {
            type = "char";
        }
        if (!type.equals("char") && !type.equals("bpe")) {
            throw BadInputException.field("tokenizer.type", "must be \"char\" or \"bpe\", got \"" + type + "\"");
        }
        if (type.equals("bpe") && vocabSize < MIN_BPE_VOCAB) {
            throw BadInputException.field("tokenizer.vocab_size",
                    "bpe needs at least " + MIN_BPE_VOCAB + " (" + SpecialToken.count()
                            + " special tokens + 256 bytes + 1 merge), got " + vocabSize);
        }
        if (type.equals("char") && vocabSize != 0 && vocabSize <= SpecialToken.count()) {
            throw BadInputException.field("tokenizer.vocab_size",
                    "char needs 0 (every character) or more than " + SpecialToken.count()
                            + " (the special tokens), got " + vocabSize);
        }
        if (trainChars == 0) {
            trainChars = DEFAULT_TRAIN_CHARS;
        }
        if (trainChars < 0 || trainChars > MAX_TRAIN_CHARS) {
            // The cap keeps pair counts inside an int and the sample inside a worker's memory.
            throw BadInputException.field("tokenizer.train_chars",
                    "must be in 1.." + MAX_TRAIN_CHARS + ", got " + trainChars);
        }
    }

    public static TokenizerConfig charLevel() {
        return new TokenizerConfig("char", 0, DEFAULT_TRAIN_CHARS);
    }

    public static TokenizerConfig bpe(int vocabSize) {
        return new TokenizerConfig("bpe", vocabSize, DEFAULT_TRAIN_CHARS);
    }
}
