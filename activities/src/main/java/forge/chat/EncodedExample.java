package forge.chat;

import java.util.Arrays;

/**
 * A conversation as token ids with a per-token loss mask.
 *
 * <p><b>Mask convention (per token, not per target):</b> {@code lossMask[i]} is 1 when {@code tokens[i]} is a token
 * the model must learn to produce, i.e. when predicting {@code tokens[i]} from {@code tokens[0..i-1]} counts toward
 * the loss: assistant content tokens and the {@code <|end|>} closing each assistant turn. It is 0 on system and user
 * turns and on every role marker (including {@code <|assistant|>}, which the prompt supplies at generation time).
 * {@code lossMask.length == tokens.length}; {@code lossMask[0]} is unused because nothing predicts the first token.
 *
 * <p>Do not shift the mask yourself: {@link #inputs()}, {@link #targets()} and {@link #weights()} give the three
 * aligned arrays of length {@code tokens.length - 1} ({@code targets[j] = tokens[j+1]},
 * {@code weights[j] = lossMask[j+1]}), and {@link SftBatchSampler} builds batches from exactly those.
 */
public record EncodedExample(int[] tokens, float[] lossMask) {
    public EncodedExample {
        if (tokens.length != lossMask.length) {
            throw new IllegalArgumentException("tokens and lossMask differ in length: " + tokens.length + " vs "
                    + lossMask.length);
        }
        if (tokens.length < 2) {
            throw new IllegalArgumentException("an example needs at least 2 tokens, got " + tokens.length);
        }
    }

    /** Training positions: one fewer than the tokens. */
    public int positions() {
        return tokens.length - 1;
    }

    public int[] inputs() {
        return Arrays.copyOf(tokens, tokens.length - 1);
    }

    public int[] targets() {
        return Arrays.copyOfRange(tokens, 1, tokens.length);
    }

    /** weights[j] says whether predicting targets()[j] = tokens[j+1] counts. */
    public float[] weights() {
        return Arrays.copyOfRange(lossMask, 1, lossMask.length);
    }

    /** How many targets carry loss. */
    public int weightedTargets() {
        int n = 0;
        for (int i = 1; i < lossMask.length; i++) {
            n += lossMask[i] != 0 ? 1 : 0;
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EncodedExample e && Arrays.equals(e.tokens, tokens) && Arrays.equals(e.lossMask, lossMask);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(tokens) + Arrays.hashCode(lossMask);
    }

    @Override
    public String toString() {
        return "EncodedExample[" + tokens.length + " tokens, " + weightedTargets() + " weighted]";
    }
}
