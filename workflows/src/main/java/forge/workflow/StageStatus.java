package forge.workflow;

import java.util.Map;

/**
 * One row of the {@code status} query and of the UI's stage table.
 *
 * @param attempt       attempts started so far (1 for a stage that never failed; 0 before the first)
 * @param lastFailure   why the last attempt that did not complete ended, or null
 * @param nextAttemptAt ISO-8601 instant at which the next attempt starts, while the stage waits to retry; else null
 */
public record StageStatus(PipelineState state, long step, long totalSteps, Map<String, Double> metrics,
                          String checkpoint, int attempt, String lastFailure, String nextAttemptAt) {
    public StageStatus {
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
    }

    public StageStatus(PipelineState state, long step, long totalSteps, Map<String, Double> metrics, String checkpoint) {
        this(state, step, totalSteps, metrics, checkpoint, 0, null, null);
    }

    static StageStatus pending() {
        return new StageStatus(PipelineState.PENDING, 0, 0, Map.of(), null);
    }

    StageStatus withState(PipelineState newState) {
        return new StageStatus(newState, step, totalSteps, metrics, checkpoint, attempt, lastFailure, nextAttemptAt);
    }

    StageStatus withProgress(long newStep, long newTotal, Map<String, Double> newMetrics, String newCheckpoint) {
        return new StageStatus(state, newStep, newTotal, newMetrics, newCheckpoint, attempt, lastFailure, nextAttemptAt);
    }

    StageStatus withAttempts(int newAttempt, String newLastFailure, String newNextAttemptAt) {
        return new StageStatus(state, step, totalSteps, metrics, checkpoint, newAttempt, newLastFailure, newNextAttemptAt);
    }
}
