package forge.train;

import java.util.Map;

/** A snapshot of a running stage for heartbeats, the status query and progress bars. */
public record TrainingProgress(long step, long totalSteps, double loss, double tokensPerSecond, String checkpoint,
                               Map<String, Double> metrics) {
    public TrainingProgress {
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
    }
}
