package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import io.temporal.activity.ActivityCancellationType;
import io.temporal.activity.ActivityOptions;
import io.temporal.common.RetryOptions;
import io.temporal.failure.ActivityFailure;
import io.temporal.failure.ApplicationFailure;
import io.temporal.failure.CanceledFailure;
import io.temporal.workflow.Async;
import io.temporal.workflow.Workflow;
import org.slf4j.Logger;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The workflow as it was before {@link TrainingPipelineImpl#DURABLE_VERSION}: kept, unchanged in the commands it
 * issues, only so that pipelines started by an older release replay and finish on this one. New runs never come
 * here. Delete it once no run older than that release is open (docs/durability.md, "Versioning").
 */
final class LegacyPipeline {
    private static final Logger log = Workflow.getLogger(LegacyPipeline.class);

    /** A stage may legitimately run for weeks; StartToClose only bounds one attempt, the heartbeat finds dead pods. */
    private static final Duration STAGE_START_TO_CLOSE = Duration.ofDays(30);

    private LegacyPipeline() {}

    static PipelineResult run(TrainingPipelineImpl w, JsonNode specJson) {
        String runId = Workflow.getInfo().getWorkflowId();
        long startMillis = Workflow.currentTimeMillis();
        PipelineSpec spec = w.parseOrFail(runId, specJson);
        spec.stages().forEach(s -> w.stageStatus.put(s.name(), StageStatus.pending()));
        w.state = PipelineState.RUNNING;
        w.publishDetails();

        Map<String, StageResult> results = new LinkedHashMap<>();
        String parent = null;
        try {
            for (StageSpec stage : spec.stages()) {
                w.currentStage = stage.name();
                w.update(stage.name(), w.stageStatus.get(stage.name()).withState(PipelineState.RUNNING));
                Map<String, String> earlier = new LinkedHashMap<>();
                results.forEach((name, r) -> earlier.put(name, r.checkpoint()));
                StageResult result = runStage(w, stage, new StageInput(runId, stage.name(), stage.config(), parent,
                        earlier));
                results.put(stage.name(), result);
                parent = result.checkpoint();
                w.update(stage.name(), new StageStatus(PipelineState.COMPLETED, result.steps(), result.steps(),
                        result.metrics(), result.checkpoint()));
            }
            w.state = PipelineState.COMPLETED;
            w.currentStage = null;
        } catch (CanceledFailure e) {
            w.state = PipelineState.CANCELLED;
            w.markCurrent(PipelineState.CANCELLED);
            w.finish(runId, startMillis, results);
            throw e;
        } catch (ActivityFailure e) {
            w.state = PipelineState.FAILED;
            w.error = TrainingPipelineImpl.rootMessage(e);
            w.markCurrent(PipelineState.FAILED);
            w.finish(runId, startMillis, results);
            throw ApplicationFailure.newNonRetryableFailure("stage " + w.currentStage + " failed: " + w.error,
                    "StageFailed");
        }
        return w.finish(runId, startMillis, results);
    }

    /** Runs one stage to completion, going around pause/resume as often as the user asks. */
    private static StageResult runStage(TrainingPipelineImpl w, StageSpec stage, StageInput input) {
        StageActivities activities = Workflow.newActivityStub(StageActivities.class, stageOptions(stage));
        var activity = TrainingPipelineImpl.activityOf(activities, stage.name());
        while (true) {
            TrainingPipelineImpl.AttemptScope attempt = new TrainingPipelineImpl.AttemptScope(
                    () -> Async.function(activity, input));
            try {
                Workflow.await(() -> w.pauseRequested || attempt.promise.isCompleted());
            } catch (CanceledFailure e) {
                Workflow.newDetachedCancellationScope(() -> Workflow.await(attempt.promise::isCompleted)).run();
                throw e;
            }
            if (attempt.promise.isCompleted()) {
                return attempt.promise.get();
            }
            attempt.scope.cancel();
            try {
                return attempt.promise.get();
            } catch (ActivityFailure e) {
                if (!(e.getCause() instanceof CanceledFailure)) {
                    throw e;
                }
            }
            w.state = PipelineState.PAUSED;
            w.update(stage.name(), w.stageStatus.get(stage.name()).withState(PipelineState.PAUSED));
            log.info("pipeline paused during stage {}", stage.name());
            Workflow.await(() -> !w.pauseRequested);
            w.state = PipelineState.RUNNING;
            w.update(stage.name(), w.stageStatus.get(stage.name()).withState(PipelineState.RUNNING));
            log.info("pipeline resumed; stage {} continues from its last checkpoint", stage.name());
        }
    }

    private static ActivityOptions stageOptions(StageSpec stage) {
        return ActivityOptions.newBuilder()
                .setTaskQueue(stage.taskQueue())
                .setStartToCloseTimeout(STAGE_START_TO_CLOSE)
                .setHeartbeatTimeout(stage.heartbeatTimeout())
                .setCancellationType(ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
                .setRetryOptions(RetryOptions.newBuilder()
                        .setInitialInterval(Duration.ofSeconds(5))
                        .setBackoffCoefficient(2.0)
                        .setMaximumInterval(Duration.ofMinutes(5))
                        .setDoNotRetry(TrainingPipelineImpl.BAD_INPUT)
                        .build())
                .setSummary(stage.name() + " stage")
                .build();
    }
}
