package forge.workflow;

import java.util.Map;

/**
 * The run summary of DESIGN.md: other tools read {@code summary.json}, so these field names are a contract.
 */
public record PipelineResult(String runId, PipelineState state, double wallSeconds, String error,
                             Map<String, StageResult> stages) {}
