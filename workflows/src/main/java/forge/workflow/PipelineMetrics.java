package forge.workflow;

/**
 * Metrics the workflow emits through {@code Workflow.getMetricsScope()} (the control worker's {@code /metrics}),
 * labelled {@code run} and {@code stage}; the SDK drops them during replay, so each failure counts once.
 */
public final class PipelineMetrics {
    /** Attempts that ended without completing, by {@code kind}: lost_worker, infrastructure, application. */
    public static final String ATTEMPT_FAILURES = "forge_stage_attempt_failures";
    /** The current run of the same application error with no checkpoint in between; 0 once the stage moves on. */
    public static final String SAME_ERROR_IN_A_ROW = "forge_stage_same_error_in_a_row";

    private PipelineMetrics() {}
}
