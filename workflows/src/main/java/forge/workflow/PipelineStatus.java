package forge.workflow;

import java.util.Map;

/** The answer to the {@code status} query (JSON through Temporal's default converter). */
public record PipelineStatus(String runId, PipelineState state, String currentStage, String error,
                             Map<String, StageStatus> stages) {}
