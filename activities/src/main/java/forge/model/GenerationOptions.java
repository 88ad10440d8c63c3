package forge.model;

import forge.errors.BadInputException;

/**
 * How {@link Gpt#generate} samples. temperature 0 is greedy; topK 0 and topP 1 turn those filters off; stopToken -1
 * means no stop token.
 */
public record GenerationOptions(int maxNewTokens, double temperature, int topK, double topP, int stopToken,
                                boolean useKvCache) {

    public GenerationOptions {
        if (maxNewTokens < 0) {
            throw BadInputException.field("generate.max_new_tokens", "must be >= 0, got " + maxNewTokens);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw BadInputException.field("generate.temperature", "must be >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw BadInputException.field("generate.top_k", "must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw BadInputException.field("generate.top_p", "must be in (0, 1] (1 = off), got " + topP);
        }
        if (stopToken < -1) {
            throw BadInputException.field("generate.stop_token", "must be a token id or -1, got " + stopToken);
        }
    }

    public static GenerationOptions greedy(int maxNewTokens) {
        return new GenerationOptions(maxNewTokens, 0, 0, 1, -1, true);
    }
}
