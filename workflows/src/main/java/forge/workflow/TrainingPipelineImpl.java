package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import io.temporal.activity.ActivityCancellationType;
import io.temporal.activity.ActivityOptions;
import io.temporal.common.RetryOptions;
import io.temporal.failure.ActivityFailure;
import io.temporal.failure.ApplicationFailure;
import io.temporal.failure.CanceledFailure;
import io.temporal.workflow.Async;
import io.temporal.workflow.CancellationScope;
import io.temporal.workflow.Functions;
import io.temporal.workflow.Promise;
import io.temporal.workflow.Workflow;
import org.slf4j.Logger;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

public class TrainingPipelineImpl implements TrainingPipeline {
    private static final Logger log = Workflow.getLogger(TrainingPipelineImpl.class);

    /** Failure type of bad specs, configs and data: retrying cannot fix them. */
    public static final String BAD_INPUT = "BadInput";

    /** A stage may legitimately run for weeks; StartToClose only bounds one attempt, the heartbeat finds dead pods. */
    static final Duration STAGE_START_TO_CLOSE = Duration.ofDays(30);

    private final Map<String, StageStatus> stageStatus = new LinkedHashMap<>();
    private PipelineState state = PipelineState.PENDING;
    private String currentStage;
    private String error;
    private boolean pauseRequested;

    @Override
    public PipelineResult run(JsonNode specJson) {
        String runId = Workflow.getInfo().getWorkflowId();
        long startMillis = Workflow.currentTimeMillis();
        PipelineSpec spec;
        try {
            // The run id names the run's S3 directory: a workflow started without the CLI (temporal CLI, another
            // SDK) must not be able to point it elsewhere. Checking adds no command, so old histories still replay.
            SafeNames.check(runId, "run id (the workflow id)");
        } catch (IllegalArgumentException e) {
            state = PipelineState.FAILED;
            error = e.getMessage();
            throw ApplicationFailure.newNonRetryableFailure("invalid run id: " + e.getMessage(), BAD_INPUT);
        }
        try {
            spec = PipelineSpec.parse(specJson);
        } catch (IllegalArgumentException e) {
            state = PipelineState.FAILED;
            error = e.getMessage();
            throw ApplicationFailure.newNonRetryableFailure("invalid pipeline spec: " + e.getMessage(), BAD_INPUT);
        }
        spec.stages().forEach(s -> stageStatus.put(s.name(), StageStatus.pending()));
        state = PipelineState.RUNNING;
        publishDetails();

        Map<String, StageResult> results = new LinkedHashMap<>();
        String parent = null;
        try {
            for (StageSpec stage : spec.stages()) {
                currentStage = stage.name();
                update(stage.name(), stageStatus.get(stage.name()).withState(PipelineState.RUNNING));
                Map<String, String> earlier = new LinkedHashMap<>();
                results.forEach((name, r) -> earlier.put(name, r.checkpoint()));
                StageResult result = runStage(stage, new StageInput(runId, stage.name(), stage.config(), parent,
                        earlier));
                results.put(stage.name(), result);
                parent = result.checkpoint();
                update(stage.name(), new StageStatus(PipelineState.COMPLETED, result.steps(), result.steps(),
                        result.metrics(), result.checkpoint()));
            }
            state = PipelineState.COMPLETED;
            currentStage = null;
        } catch (CanceledFailure e) {
            state = PipelineState.CANCELLED;
            markCurrent(PipelineState.CANCELLED);
            finish(runId, startMillis, results);
            throw e;
        } catch (ActivityFailure e) {
            state = PipelineState.FAILED;
            error = rootMessage(e);
            markCurrent(PipelineState.FAILED);
            finish(runId, startMillis, results);
            throw ApplicationFailure.newNonRetryableFailure("stage " + currentStage + " failed: " + error, "StageFailed");
        }
        return finish(runId, startMillis, results);
    }

    /** Runs one stage to completion, going around pause/resume as often as the user asks. */
    private StageResult runStage(StageSpec stage, StageInput input) {
        StageActivities activities = Workflow.newActivityStub(StageActivities.class, stageOptions(stage));
        Functions.Func1<StageInput, StageResult> activity = switch (stage.name()) {
            case Stages.PRETRAIN -> activities::pretrain;
            case Stages.SFT -> activities::sft;
            case Stages.REWARD -> activities::reward;
            case Stages.PPO -> activities::ppo;
            case Stages.GRPO -> activities::grpo;
            case Stages.DPO -> activities::dpo;
            default -> throw new IllegalStateException("no activity for stage " + stage.name());
        };
        while (true) {
            AttemptScope attempt = new AttemptScope(() -> Async.function(activity, input));
            try {
                Workflow.await(() -> pauseRequested || attempt.promise.isCompleted());
            } catch (CanceledFailure e) {
                // The whole run is being cancelled and so is the activity: let it finish its checkpoint first.
                Workflow.newDetachedCancellationScope(() -> Workflow.await(attempt.promise::isCompleted)).run();
                throw e;
            }
            if (attempt.promise.isCompleted()) {
                return attempt.promise.get();
            }
            // Pause: cancelling makes the activity write a checkpoint and stop (WAIT_CANCELLATION_COMPLETED
            // means we only move on once it has), so the GPU is free while we wait.
            attempt.scope.cancel();
            try {
                return attempt.promise.get(); // it finished before the cancellation reached it
            } catch (ActivityFailure e) {
                if (!(e.getCause() instanceof CanceledFailure)) {
                    throw e;
                }
            }
            state = PipelineState.PAUSED;
            update(stage.name(), stageStatus.get(stage.name()).withState(PipelineState.PAUSED));
            log.info("pipeline paused during stage {}", stage.name());
            Workflow.await(() -> !pauseRequested);
            state = PipelineState.RUNNING;
            update(stage.name(), stageStatus.get(stage.name()).withState(PipelineState.RUNNING));
            log.info("pipeline resumed; stage {} continues from its last checkpoint", stage.name());
        }
    }

    /** One activity attempt in a scope of its own, so a pause can cancel it without cancelling the run. */
    private static final class AttemptScope {
        final CancellationScope scope;
        Promise<StageResult> promise;

        AttemptScope(java.util.function.Supplier<Promise<StageResult>> start) {
            scope = Workflow.newCancellationScope(() -> {
                promise = start.get();
            });
            scope.run();
        }
    }

    private static ActivityOptions stageOptions(StageSpec stage) {
        return ActivityOptions.newBuilder()
                .setTaskQueue(stage.taskQueue())
                .setStartToCloseTimeout(STAGE_START_TO_CLOSE)
                .setHeartbeatTimeout(stage.heartbeatTimeout())
                // No ScheduleToStart: a stage may wait in the queue for a free GPU for as long as it takes.
                .setCancellationType(ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
                .setRetryOptions(RetryOptions.newBuilder()
                        .setInitialInterval(Duration.ofSeconds(5))
                        .setBackoffCoefficient(2.0)
                        .setMaximumInterval(Duration.ofMinutes(5))
                        .setDoNotRetry(BAD_INPUT)
                        .build())
                .setSummary(stage.name() + " stage")
                .build();
    }

    private PipelineResult finish(String runId, long startMillis, Map<String, StageResult> results) {
        double wall = (Workflow.currentTimeMillis() - startMillis) / 1000.0;
        PipelineResult result = new PipelineResult(runId, state, wall, error, results);
        publishDetails();
        // The summary must be written even when the run was cancelled, so it runs outside the cancelled scope.
        CancellationScope detached = Workflow.newDetachedCancellationScope(() -> {
            try {
                summaryActivities().publishSummary(result);
            } catch (ActivityFailure e) {
                log.warn("could not publish summary.json: {}", rootMessage(e));
            }
        });
        detached.run();
        return result;
    }

    private static PipelineActivities summaryActivities() {
        return Workflow.newActivityStub(PipelineActivities.class, ActivityOptions.newBuilder()
                .setTaskQueue(TaskQueues.CONTROL)
                /* One small S3 write; a minute is generous, and retries cover a blip. */
                .setStartToCloseTimeout(Duration.ofMinutes(1))
                .setRetryOptions(RetryOptions.newBuilder().setMaximumAttempts(5).build())
                .build());
    }

    @Override
    public PipelineStatus status() {
        return new PipelineStatus(Workflow.getInfo().getWorkflowId(), state, currentStage, error,
                new LinkedHashMap<>(stageStatus));
    }

    @Override
    public void pause() {
        pauseRequested = true;
    }

    @Override
    public void resume() {
        pauseRequested = false;
    }

    @Override
    public void stageProgress(StageProgress p) {
        StageStatus old = stageStatus.get(p.stage());
        if (old == null) {
            return;
        }
        Map<String, Double> metrics = new LinkedHashMap<>(old.metrics());
        metrics.putAll(p.metrics());
        if (p.loss() != null) {
            metrics.put("loss", p.loss());
        }
        update(p.stage(), new StageStatus(old.state(), p.step(), p.totalSteps(), metrics,
                p.checkpoint() != null ? p.checkpoint() : old.checkpoint()));
    }

    private void markCurrent(PipelineState s) {
        if (currentStage != null && stageStatus.containsKey(currentStage)) {
            update(currentStage, stageStatus.get(currentStage).withState(s));
        }
    }

    private void update(String stage, StageStatus status) {
        stageStatus.put(stage, status);
        publishDetails();
    }

    private void publishDetails() {
        Workflow.setCurrentDetails(StatusMarkdown.render(status()));
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null) {
            c = c.getCause();
        }
        return c instanceof ApplicationFailure af ? af.getOriginalMessage() : c.getMessage();
    }
}
