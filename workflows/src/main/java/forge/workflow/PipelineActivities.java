package forge.workflow;

import io.temporal.activity.ActivityInterface;
import io.temporal.activity.ActivityMethod;

/** Light bookkeeping that runs on the control queue, next to the workflow. */
@ActivityInterface
public interface PipelineActivities {
    /** Writes {@code summary.json} next to the run's checkpoints; returns its URI. */
    @ActivityMethod(name = "PublishSummary")
    String publishSummary(PipelineResult result);

    /**
     * Before the first stage: parses every stage's config with the stage's own parser, refuses a run id that already
     * holds a run of a different spec, and reports which search attributes the namespace has. Non-retryable
     * {@code BadInput} naming the stage and field.
     */
    @ActivityMethod(name = "CheckRun")
    RunCheckResult checkRun(RunCheck check);

    /** Once every check passed: records the spec under the run's S3 root, so a later start can be compared with it. */
    @ActivityMethod(name = "RecordSpec")
    void recordSpec(RunCheck check);
}
