package forge.workflow;

import java.util.Map;

/**
 * The answer to the {@code status} query (JSON through Temporal's default converter).
 *
 * @param specHash     SHA-256 of the spec's canonical JSON ({@link SpecHash}); null for runs started before it existed
 * @param workflowRuns how many workflow runs this pipeline has used so far: it continues as new to keep each run's
 *                     history bounded, under the same run id
 */
public record PipelineStatus(String runId, PipelineState state, String currentStage, String error,
                             Map<String, StageStatus> stages, String specHash, int workflowRuns) {
    public PipelineStatus(String runId, PipelineState state, String currentStage, String error,
                          Map<String, StageStatus> stages) {
        this(runId, state, currentStage, error, stages, null, 1);
    }
}
