package forge.workflow;

import java.util.List;
import java.util.Map;

/** A finished stage: its output checkpoint and the headline numbers that go into the run summary. */
public record StageResult(String stage, String state, long steps, double wallSeconds, double tokensPerSecond,
                          String checkpoint, Map<String, Double> metrics, List<String> samples) {
    public StageResult {
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
        samples = samples == null ? List.of() : List.copyOf(samples);
    }
}
