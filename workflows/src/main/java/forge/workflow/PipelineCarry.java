package forge.workflow;

import java.util.List;
import java.util.Map;

/**
 * The pipeline's state handed from one workflow run to the next when it continues as new (the spec travels beside
 * it, unchanged). Everything {@code status} shows and everything the next stage needs is here; nothing else
 * survives a run.
 *
 * @param startedAtMillis  when the first run started (the summary's wall time counts from here)
 * @param workflowRuns     runs so far, this one included
 * @param searchAttributes the registered search attributes the workflow may upsert
 * @param results          finished stages, in order
 * @param stages           every stage's status row
 * @param attempts         every stage's attempt counters
 */
public record PipelineCarry(long startedAtMillis, int workflowRuns, String specHash, List<String> searchAttributes,
                            boolean pauseRequested, Map<String, StageResult> results, Map<String, StageStatus> stages,
                            Map<String, StageAttempts> attempts) {
    public PipelineCarry {
        searchAttributes = searchAttributes == null ? List.of() : List.copyOf(searchAttributes);
        results = results == null ? Map.of() : results;
        stages = stages == null ? Map.of() : stages;
        attempts = attempts == null ? Map.of() : attempts;
    }
}
