package forge.activities;

import forge.checkpoint.AttemptReplacedException;
import forge.checkpoint.StageCache;
import forge.stage.StageEnv;
import forge.stage.StageRegistry;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.train.StageOutcome;
import forge.train.TrainingMetrics;
import forge.workflow.StageActivities;
import forge.workflow.StageInput;
import forge.workflow.StageResult;
import io.temporal.activity.Activity;
import io.temporal.activity.ActivityExecutionContext;
import io.temporal.client.WorkflowClient;
import io.temporal.failure.ApplicationFailure;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

import java.util.OptionalLong;
import java.util.function.Function;

/**
 * Thin glue: Temporal in, plain training classes out. Everything interesting lives in the stages (found through
 * {@link StageRegistry}) and {@code forge.train}.
 */
public class StageActivitiesImpl implements StageActivities {
    private static final Logger log = LoggerFactory.getLogger(StageActivitiesImpl.class);

    private final S3Storage storage;
    private final S3Settings settings;
    private final WorkflowClient client;
    private volatile boolean workerStopping;

    public StageActivitiesImpl(S3Storage storage, S3Settings settings, WorkflowClient client) {
        this.storage = storage;
        this.settings = settings;
        this.client = client;
    }

    @Override
    public StageResult pretrain(StageInput input) {
        return run(input);
    }

    @Override
    public StageResult sft(StageInput input) {
        return run(input);
    }

    @Override
    public StageResult reward(StageInput input) {
        return run(input);
    }

    @Override
    public StageResult ppo(StageInput input) {
        return run(input);
    }

    @Override
    public StageResult grpo(StageInput input) {
        return run(input);
    }

    @Override
    public StageResult dpo(StageInput input) {
        return run(input);
    }

    private StageResult run(StageInput input) {
        StageEnv env = new StageEnv(input, storage, settings, TrainingMetrics.of(input.runId(), input.stage()),
                new StageCache(storage, settings.root().resolve("_cache")));
        return run(input, control -> StageRegistry.kind(input.stage()).run(env, control));
    }

    /**
     * The worker is shutting down (SIGTERM): running stages write a checkpoint and stop, heartbeating meanwhile, and
     * Temporal retries them elsewhere.
     */
    public void workerShuttingDown() {
        workerStopping = true;
    }

    private static <T extends Throwable> T causeOfType(Throwable t, Class<T> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return type.cast(c);
            }
        }
        return null;
    }

    /** Runs a stage and maps its ending onto Temporal: done, stopped on request, bad input, or a transient fault. */
    private StageResult run(StageInput input, Function<HeartbeatControl, StageOutcome> stage) {
        ActivityExecutionContext ctx = Activity.getExecutionContext();
        HeartbeatControl control = new HeartbeatControl(ctx, client, input.stage(), () -> workerStopping,
                input.previousAttemptStep() == null ? OptionalLong.empty() : OptionalLong.of(input.previousAttemptStep()),
                ProgressSignals.standard());
        // The workflow counts attempts (each is one activity execution); older workflows left it to Temporal.
        int attempt = input.attempt() != null ? input.attempt() : ctx.getInfo().getAttempt();
        // Every log line of this attempt names its run and stage (structured in the log file).
        MDC.put("run", input.runId());
        MDC.put("stage", input.stage());
        MDC.put("attempt", String.valueOf(attempt));
        // Marks where each attempt begins in the log; a retry's next line comes only after its checkpoint is loaded.
        log.info("{} attempt {} started", input.stage(), attempt);
        try {
            StageOutcome outcome = stage.apply(control);
            if (!outcome.completed()) {
                // The checkpoint is committed; tell Temporal the cancellation (pause, cancel, shutdown) is done.
                throw control.stopCause();
            }
            return new StageResult(input.stage(), "COMPLETED", outcome.step(), outcome.wallSeconds(),
                    outcome.tokensPerSecond(), outcome.checkpoint(), outcome.metrics(), outcome.samples());
        } catch (RuntimeException e) {
            AttemptReplacedException replaced = causeOfType(e, AttemptReplacedException.class);
            if (replaced != null) {
                // Temporal already runs a newer attempt and ignores this one's answer; the message is for the log.
                throw ApplicationFailure.newFailure(replaced.getMessage(), "AttemptReplaced");
            }
            if (control.stopRequested() && !(e instanceof io.temporal.client.ActivityCompletionException)) {
                // Asked to stop (pause, cancel, shutdown): whatever failed after that, the stage is stopped at its last
                // committed checkpoint, which is what the workflow waits to hear; a failure here would end the run.
                log.error("{} failed after it was asked to stop; it stays stopped at its last committed checkpoint",
                        input.stage(), e);
                throw control.stopCause();
            }
            throw ActivityFailures.toTemporal(e, "stage " + input.stage() + ": ");
        } finally {
            MDC.remove("run");
            MDC.remove("stage");
            MDC.remove("attempt");
        }
    }
}
