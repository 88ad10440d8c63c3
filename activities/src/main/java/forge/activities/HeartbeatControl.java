package forge.activities;

import forge.train.StageControl;
import forge.train.TrainingProgress;
import forge.workflow.StageProgress;
import io.temporal.activity.ActivityExecutionContext;
import io.temporal.client.ActivityCanceledException;
import io.temporal.client.ActivityCompletionException;
import io.temporal.client.ActivityWorkerShutdownException;
import io.temporal.client.WorkflowClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.OptionalLong;
import java.util.function.BooleanSupplier;

/**
 * Heartbeats carry the step, loss and last committed checkpoint (tiny, throttled by the SDK). A cancellation —
 * pause, cancel — arrives as an exception from heartbeat, a worker shutdown through {@code workerStopping} (the
 * worker lets heartbeats through during its grace period); we remember it and ask the loop to checkpoint and stop,
 * then rethrow it so Temporal knows the stage stopped on purpose. Heartbeats go on while that stop checkpoint
 * uploads: a cancelled activity still has a heartbeat timeout, and missing it would turn a pause into a failure.
 */
final class HeartbeatControl implements StageControl {
    private static final Logger log = LoggerFactory.getLogger(HeartbeatControl.class);

    private final ActivityExecutionContext ctx;
    private final WorkflowClient client;
    private final String stage;
    private final BooleanSupplier workerStopping;
    private final OptionalLong previousAttemptStep;
    private final ProgressSignals signals;
    private volatile ActivityCompletionException stopCause;

    HeartbeatControl(ActivityExecutionContext ctx, WorkflowClient client, String stage) {
        this(ctx, client, stage, () -> false, OptionalLong.empty(), ProgressSignals.standard());
    }

    HeartbeatControl(ActivityExecutionContext ctx, WorkflowClient client, String stage, BooleanSupplier workerStopping) {
        this(ctx, client, stage, workerStopping, OptionalLong.empty(), ProgressSignals.standard());
    }

    /**
     * @param workerStopping      true once the worker shuts down (SIGTERM): the stage checkpoints and stops
     * @param previousAttemptStep the step the workflow says the last lost attempt reached (each attempt is its own
     *                            activity execution now, so Temporal's heartbeat details start empty)
     * @param signals             which milestones become workflow signals
     */
    HeartbeatControl(ActivityExecutionContext ctx, WorkflowClient client, String stage, BooleanSupplier workerStopping,
                     OptionalLong previousAttemptStep, ProgressSignals signals) {
        this.ctx = ctx;
        this.client = client;
        this.stage = stage;
        this.workerStopping = workerStopping;
        this.previousAttemptStep = previousAttemptStep;
        this.signals = signals;
    }

    @Override
    public void progress(TrainingProgress p) {
        try {
            ctx.heartbeat(toStageProgress(p));
        } catch (ActivityCompletionException e) {
            if (stopCause == null) {
                log.info("stage {} asked to stop ({}); writing a checkpoint", stage, e.getClass().getSimpleName());
                stopCause = e;
            }
        }
    }

    @Override
    public void milestone(TrainingProgress p) {
        progress(p);
        if (!signals.due(p.checkpoint(), stopRequested())) {
            return; // the heartbeat above carries it; the workflow hears of it with the next signal
        }
        try {
            client.newUntypedWorkflowStub(ctx.getInfo().getWorkflowId())
                    .signal("stageProgress", toStageProgress(p));
        } catch (RuntimeException e) {
            // Progress reports are a courtesy; training must not stop because the workflow is unreachable.
            log.warn("could not report progress of stage {}: {}", stage, e.getMessage());
        }
    }

    @Override
    public boolean stopRequested() {
        if (stopCause == null && workerStopping.getAsBoolean()) {
            log.info("stage {}: the worker is shutting down; writing a checkpoint", stage);
            stopCause = new ActivityWorkerShutdownException(ctx.getInfo());
        }
        return stopCause != null;
    }

    /** A retried attempt sees the last heartbeat details of the one before it: the step it had reached. */
    @Override
    public OptionalLong previousAttemptStep() {
        if (previousAttemptStep.isPresent()) {
            return previousAttemptStep;
        }
        try {
            return ctx.getHeartbeatDetails(StageProgress.class)
                    .map(p -> OptionalLong.of(p.step())).orElse(OptionalLong.empty());
        } catch (RuntimeException e) {
            return OptionalLong.empty(); // details from another version of the payload: unknown, not an error
        }
    }

    ActivityCompletionException stopCause() {
        return stopCause != null ? stopCause : new ActivityCanceledException(ctx.getInfo());
    }

    private StageProgress toStageProgress(TrainingProgress p) {
        return new StageProgress(stage, p.step(), p.totalSteps(), Double.isNaN(p.loss()) ? null : p.loss(),
                p.checkpoint(), p.metrics());
    }
}
