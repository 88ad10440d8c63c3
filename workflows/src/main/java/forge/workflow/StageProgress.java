package forge.workflow;

import java.util.Map;

/**
 * A stage's progress: the activity's heartbeat details and the payload of the workflow's {@code stageProgress}
 * signal. Kept tiny: S3 is the source of truth for what to resume from; this only says where it is.
 */
public record StageProgress(String stage, long step, long totalSteps, Double loss, String checkpoint,
                            Map<String, Double> metrics) {
    public StageProgress {
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
    }
}
