package forge.tokenizer;

import forge.errors.BadInputException;

import java.util.List;

/**
 * Text to token ids and back. Ids 0..6 are always the {@link SpecialToken}s; every id in 0..vocabSize()-1 is a
 * token. Implementations are immutable and safe to share between threads.
 */
public interface Tokenizer {

    int vocabSize();

    /**
     * The ids of {@code text}. Special-token text inside it ("&lt;|endoftext|&gt;") is encoded as ordinary text,
     * never as the special id, so user data cannot forge turn or document boundaries.
     */
    int[] encode(String text);

    default int id(SpecialToken token) {
        return token.id();
    }

    /** Special ids render as their text. Ids that do not form valid UTF-8 render as U+FFFD. */
    default String decode(int[] ids) {
        return decode(ids, false);
    }

    String decode(int[] ids, boolean skipSpecial);

    /** "char" or "bpe". */
    String type();

    /** The tokenizer as a Hugging Face {@code tokenizer.json}, loadable by the tokenizers library. */
    String toHuggingFaceJson();

    /** Reads a {@code tokenizer.json} written by {@link #toHuggingFaceJson()} (or a compatible one). */
    static Tokenizer fromHuggingFaceJson(String json) {
        return HuggingFaceJson.read(json);
    }

    /**
     * Whether a tokenizer.json is one Forge wrote for its own tokenizers (its added tokens exactly the
     * {@link SpecialToken}s at ids 0..6), rather than a pretrained checkpoint's ({@code PretrainedTokenizer}).
     */
    static boolean isForgeJson(String json) {
        return HuggingFaceJson.isForge(json);
    }

    /** Learns a tokenizer from the start of {@code documents}; the same inputs always give the same tokenizer. */
    static Tokenizer train(TokenizerConfig cfg, List<String> documents) {
        List<String> sample = TrainingSample.take(documents, cfg.trainChars());
        if (sample.isEmpty()) {
            throw new BadInputException("tokenizer: the training corpus contains no text");
        }
        return cfg.type().equals("bpe")
                ? BpeTrainer.train(sample, cfg.vocabSize())
                : CharTokenizer.train(sample, cfg.vocabSize());
    }
}
