package forge.train;

import java.util.List;
import java.util.Map;

/**
 * How a stage run ended. {@code completed == false} means it stopped on request after committing
 * {@code checkpoint}; a later run resumes from there.
 */
public record StageOutcome(boolean completed, long step, String checkpoint, double wallSeconds,
                           double tokensPerSecond, Map<String, Double> metrics, List<String> samples) {
    public StageOutcome {
        metrics = Map.copyOf(metrics);
        samples = List.copyOf(samples);
    }
}
