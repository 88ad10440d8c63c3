package forge.train;

import forge.errors.BadInputException;

/** Samples generated at the end of a stage and stored in its {@code final/}. */
public record SampleSpec(int count, int maxNewTokens, double temperature, int topK, String prompt) {
    public SampleSpec {
        if (count < 0) throw BadInputException.field("sample.count", "must be >= 0, got " + count);
        if (maxNewTokens <= 0) throw BadInputException.field("sample.max_new_tokens", "must be > 0, got " + maxNewTokens);
        if (temperature < 0) throw BadInputException.field("sample.temperature", "must be >= 0, got " + temperature);
        if (topK < 0) throw BadInputException.field("sample.top_k", "must be >= 0, got " + topK);
    }
}
