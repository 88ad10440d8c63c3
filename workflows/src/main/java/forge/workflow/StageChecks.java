package forge.workflow;

import io.temporal.activity.ActivityInterface;
import io.temporal.activity.ActivityMethod;

/**
 * Checks that run before the first stage, on a worker of each stage's own task queue (through
 * {@link TaskQueues#checks}), so that data and checkpoints are looked at from where the stage will read them, with
 * that worker's filesystem and credentials.
 */
@ActivityInterface
public interface StageChecks {
    /**
     * Parses the stage's config with the stage's own parser, checks that every data source is readable and that
     * {@code init_from}/{@code reward_from} name checkpoints that exist and verify. Fails with a non-retryable
     * {@code BadInput} naming the stage and the field.
     */
    @ActivityMethod(name = "CheckStage")
    void checkStage(StageInput input);
}
