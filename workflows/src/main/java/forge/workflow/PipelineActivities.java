package forge.workflow;

import io.temporal.activity.ActivityInterface;
import io.temporal.activity.ActivityMethod;

/** Light bookkeeping that runs on the control queue, next to the workflow. */
@ActivityInterface
public interface PipelineActivities {
    /** Writes {@code summary.json} next to the run's checkpoints; returns its URI. */
    @ActivityMethod(name = "PublishSummary")
    String publishSummary(PipelineResult result);
}
