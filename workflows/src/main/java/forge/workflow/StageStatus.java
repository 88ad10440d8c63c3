package forge.workflow;

import java.util.Map;

/** One row of the {@code status} query and of the UI's stage table. */
public record StageStatus(PipelineState state, long step, long totalSteps, Map<String, Double> metrics,
                          String checkpoint) {
    public StageStatus {
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
    }

    static StageStatus pending() {
        return new StageStatus(PipelineState.PENDING, 0, 0, Map.of(), null);
    }

    StageStatus withState(PipelineState newState) {
        return new StageStatus(newState, step, totalSteps, metrics, checkpoint);
    }
}
