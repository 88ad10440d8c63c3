package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.uber.m3.tally.Scope;
import io.temporal.activity.ActivityCancellationType;
import io.temporal.activity.ActivityOptions;
import io.temporal.api.enums.v1.TimeoutType;
import io.temporal.common.RetryOptions;
import io.temporal.common.SearchAttributeUpdate;
import io.temporal.failure.ActivityFailure;
import io.temporal.failure.ApplicationFailure;
import io.temporal.failure.CanceledFailure;
import io.temporal.failure.TimeoutFailure;
import io.temporal.workflow.Async;
import io.temporal.workflow.CancellationScope;
import io.temporal.workflow.Functions;
import io.temporal.workflow.Promise;
import io.temporal.workflow.Workflow;
import org.slf4j.Logger;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Runs the stages of a spec in order, each as a sequence of attempts that the workflow itself retries, pauses and
 * resumes, and keeps each workflow run's history bounded by continuing as new. docs/durability.md explains why the
 * history bound, the retry rules and the pause rule hold.
 */
public class TrainingPipelineImpl implements TrainingPipeline {
    private static final Logger log = Workflow.getLogger(TrainingPipelineImpl.class);

    /** Failure type of bad specs, configs and data: retrying cannot fix them. */
    public static final String BAD_INPUT = "BadInput";
    /** Failure type of an unreachable object store: a later attempt gets past it. */
    public static final String STORAGE_UNAVAILABLE = "StorageUnavailable";

    /**
     * The change id of everything since the workflow retries stages itself: checks before the first stage, attempts
     * counted by the workflow, continue-as-new, search attributes. Runs that started before it replay through
     * {@link LegacyPipeline}.
     */
    static final String DURABLE_CHANGE = "durable-pipeline";
    static final int DURABLE_VERSION = 1;

    /** Checks before the first stage are quick (configs, S3 HEADs); a minute per attempt is generous. */
    private static final Duration CHECK_TIMEOUT = Duration.ofMinutes(2);

    final Map<String, StageStatus> stageStatus = new LinkedHashMap<>();
    PipelineState state = PipelineState.PENDING;
    String currentStage;
    String error;
    boolean pauseRequested;

    private boolean durable;
    private String specHash;
    private int workflowRuns = 1;
    private long startMillis;
    private int historyLimit = PipelineSpec.DEFAULT_HISTORY_LIMIT;
    private List<String> searchAttributes = List.of();
    private final Map<String, StageResult> results = new LinkedHashMap<>();
    private final Map<String, StageAttempts> attempts = new LinkedHashMap<>();
    private final Map<String, Object> upserted = new LinkedHashMap<>();

    @Override
    public PipelineResult run(JsonNode specJson, PipelineCarry carried) {
        int version = Workflow.getVersion(DURABLE_CHANGE, Workflow.DEFAULT_VERSION, DURABLE_VERSION);
        if (version == Workflow.DEFAULT_VERSION) {
            return LegacyPipeline.run(this, specJson);
        }
        durable = true;
        String runId = Workflow.getInfo().getWorkflowId();
        PipelineSpec spec = parseOrFail(runId, specJson);
        historyLimit = spec.historyLimitEvents();
        if (carried == null) {
            startMillis = Workflow.currentTimeMillis();
            specHash = SpecHash.of(specJson);
            spec.stages().forEach(s -> stageStatus.put(s.name(), StageStatus.pending()));
            publishDetails();
            try {
                checkBeforeFirstStage(runId, spec, specJson);
            } catch (CanceledFailure e) {
                state = PipelineState.CANCELLED;
                publishDetails();
                throw e;
            }
        } else {
            restore(carried);
        }
        state = PipelineState.RUNNING;
        upsertSearchAttributes();
        try {
            for (StageSpec stage : spec.stages()) {
                if (results.containsKey(stage.name())) {
                    continue;
                }
                currentStage = stage.name();
                update(stage.name(), stageStatus.get(stage.name()).withState(PipelineState.RUNNING));
                StageResult result = runStage(specJson, stage, stageInput(runId, stage));
                results.put(stage.name(), result);
                StageStatus done = stageStatus.get(stage.name());
                update(stage.name(), new StageStatus(PipelineState.COMPLETED, result.steps(), result.steps(),
                        result.metrics(), result.checkpoint(), done.attempt(), done.lastFailure(), null));
                metrics(runId, stage.name()).gauge(PipelineMetrics.SAME_ERROR_IN_A_ROW).update(0);
            }
            state = PipelineState.COMPLETED;
            currentStage = null;
        } catch (CanceledFailure e) {
            state = PipelineState.CANCELLED;
            markCurrent(PipelineState.CANCELLED);
            finish(runId, startMillis, results);
            throw e;
        } catch (StageFailed e) {
            state = PipelineState.FAILED;
            error = e.getMessage();
            markCurrent(PipelineState.FAILED);
            finish(runId, startMillis, results);
            throw ApplicationFailure.newNonRetryableFailure("stage " + currentStage + " failed: " + error,
                    "StageFailed");
        }
        return finish(runId, startMillis, results);
    }

    /** A stage input from the outputs of the stages finished so far (the last one is the parent). */
    private StageInput stageInput(String runId, StageSpec stage) {
        Map<String, String> earlier = new LinkedHashMap<>();
        String parent = null;
        for (Map.Entry<String, StageResult> r : results.entrySet()) {
            earlier.put(r.getKey(), r.getValue().checkpoint());
            parent = r.getValue().checkpoint();
        }
        return new StageInput(runId, stage.name(), stage.config(), parent, earlier);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Checks before the first stage

    /**
     * Everything that can be known wrong before a GPU hour is spent: every stage's config, the run id against the
     * spec it already holds, every stage's data and named checkpoints as its own workers see them, and a worker on
     * every stage queue. Fails the run, non-retryable, naming the stage and the field.
     */
    private void checkBeforeFirstStage(String runId, PipelineSpec spec, JsonNode specJson) {
        RunCheck check = new RunCheck(runId, specJson, specHash);
        PipelineActivities control = controlActivities(CHECK_TIMEOUT, 5);
        RunCheckResult found;
        try {
            found = control.checkRun(check);
        } catch (ActivityFailure e) {
            throw invalidSpec(rootMessage(e));
        }
        List<Promise<Void>> checks = new ArrayList<>();
        for (StageSpec stage : spec.stages()) {
            StageChecks stub = Workflow.newActivityStub(StageChecks.class, ActivityOptions.newBuilder()
                    .setTaskQueue(TaskQueues.checks(stage.taskQueue()))
                    // The proof that the stage queue has a worker: one must pick the check up within this long.
                    .setScheduleToStartTimeout(spec.workerWait())
                    // Reading configs and a few S3 HEADs and manifests: minutes would mean a stuck endpoint.
                    .setStartToCloseTimeout(CHECK_TIMEOUT)
                    .setRetryOptions(RetryOptions.newBuilder().setMaximumAttempts(3).setDoNotRetry(BAD_INPUT).build())
                    .setSummary("check " + stage.name())
                    .build());
            checks.add(Async.procedure(stub::checkStage,
                    new StageInput(runId, stage.name(), stage.config(), null, Map.of())));
        }
        for (int i = 0; i < checks.size(); i++) {
            StageSpec stage = spec.stages().get(i);
            try {
                checks.get(i).get();
            } catch (ActivityFailure e) {
                if (e.getCause() instanceof TimeoutFailure t
                        && t.getTimeoutType() == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START) {
                    throw invalidSpec("stages." + stage.name() + ".task_queue: no worker on task queue '"
                            + stage.taskQueue() + "' (none took the stage's check from '"
                            + TaskQueues.checks(stage.taskQueue()) + "' in " + spec.workerWait().toSeconds()
                            + " s; start one with `forge worker --role gpu --queue " + stage.taskQueue()
                            + "`, fix the name, or raise worker_wait_seconds)");
                }
                throw invalidSpec(rootMessage(e));
            }
        }
        try {
            control.recordSpec(check);
        } catch (ActivityFailure e) {
            throw invalidSpec(rootMessage(e));
        }
        searchAttributes = found.searchAttributes();
        log.info("spec {} checked: {} stages, search attributes {}", SpecHash.abbrev(specHash), spec.stages().size(),
                searchAttributes);
    }

    private ApplicationFailure invalidSpec(String message) {
        state = PipelineState.FAILED;
        error = message;
        publishDetails();
        return ApplicationFailure.newNonRetryableFailure("invalid pipeline spec: " + message, BAD_INPUT);
    }

    // ---------------------------------------------------------------------------------------------------------
    // One stage: attempts, pauses, retries, rotations

    /**
     * Runs one stage to completion. Each attempt is one activity execution (no Temporal retries), so the workflow
     * knows every attempt's outcome: it waits out the backoff, pauses, stops after the same error repeats, and at a
     * moment when no attempt runs may continue as new.
     */
    private StageResult runStage(JsonNode specJson, StageSpec stage, StageInput base) {
        StageActivities stub = Workflow.newActivityStub(StageActivities.class, stageOptions(stage));
        Functions.Func1<StageInput, StageResult> activity = activityOf(stub, stage.name());
        Scope scope = metrics(base.runId(), stage.name());
        while (true) {
            if (rotationDue()) {
                continueAsNew(specJson);
            }
            if (pauseRequested) {
                waitWhilePaused(stage.name());
                continue;
            }
            StageAttempts a = attempts.getOrDefault(stage.name(), StageAttempts.NONE);
            if (a.nextAttemptAtMillis() != null) {
                long wait = a.nextAttemptAtMillis() - Workflow.currentTimeMillis();
                if (wait > 0 && Workflow.await(Duration.ofMillis(wait), () -> pauseRequested || rotationDue())) {
                    continue; // a pause or a rotation comes first; the backoff is over either way
                }
            }
            a = a.startedOne();
            setAttempts(stage.name(), a);
            String checkpointBefore = stageStatus.get(stage.name()).checkpoint();
            StageInput input = new StageInput(base.runId(), base.stage(), base.config(), base.parentCheckpoint(),
                    base.earlierOutputs(), a.started(), a.previousAttemptStep());
            AttemptScope attempt = new AttemptScope(() -> Async.function(activity, input));
            try {
                Workflow.await(() -> pauseRequested || rotationDue() || attempt.promise.isCompleted());
            } catch (CanceledFailure e) {
                // The whole run is being cancelled and so is the activity: let it finish its checkpoint first.
                Workflow.newDetachedCancellationScope(() -> Workflow.await(attempt.promise::isCompleted)).run();
                throw e;
            }
            boolean cancelled = !attempt.promise.isCompleted();
            if (cancelled) {
                // Pause or rotation: the activity writes a checkpoint and stops (WAIT_CANCELLATION_COMPLETED: we move
                // on only once it has), so the GPU is free while we wait or while the next run starts.
                attempt.scope.cancel();
            }
            try {
                return attempt.promise.get(); // it may have finished before the cancellation reached it
            } catch (ActivityFailure e) {
                StageFailure f = StageFailure.of(e);
                if (cancelled || pauseRequested) {
                    // Whatever ended a stopped attempt — its cancellation, a failure or a lost worker while writing
                    // the stop checkpoint — the stage continues from its last committed checkpoint.
                    setAttempts(stage.name(), attempts.get(stage.name()).stopped(f));
                    if (f.kind() != StageFailure.Kind.CANCELED) {
                        log.warn("stage {} attempt {} ended while stopping ({}); it continues from its last "
                                + "checkpoint", stage.name(), a.started(), f.message());
                    }
                    continue;
                }
                boolean progressed = !Objects.equals(checkpointBefore, stageStatus.get(stage.name()).checkpoint());
                scope.tagged(Map.of("kind", f.metricKind())).counter(PipelineMetrics.ATTEMPT_FAILURES).inc(1);
                if (f.kind() == StageFailure.Kind.BAD_INPUT) {
                    throw new StageFailed(f.message());
                }
                int inARow = progressed ? 1 : a.failuresInARow() + 1;
                long next = Workflow.currentTimeMillis() + stage.retry().backoff(inARow).toMillis();
                StageAttempts failed = a.failed(f, progressed, next);
                scope.gauge(PipelineMetrics.SAME_ERROR_IN_A_ROW).update(failed.sameErrorInARow());
                if (f.kind() == StageFailure.Kind.APPLICATION
                        && failed.sameErrorInARow() >= stage.retry().maxSameError()) {
                    setAttempts(stage.name(), new StageAttempts(failed.started(), failed.failuresInARow(),
                            failed.sameErrorInARow(), failed.lastErrorKey(), failed.lastFailure(),
                            failed.lostWorkers(), failed.previousAttemptStep(), null));
                    throw new StageFailed(f.message() + " (" + failed.sameErrorInARow()
                            + " attempts in a row failed with this error and no checkpoint; retry.max_same_error is "
                            + stage.retry().maxSameError() + ")");
                }
                setAttempts(stage.name(), failed);
                log.warn("stage {} attempt {} failed ({}); attempt {} starts in {} s", stage.name(), a.started(),
                        f.message(), a.started() + 1, (next - Workflow.currentTimeMillis()) / 1000);
            }
        }
    }

    private void waitWhilePaused(String stage) {
        state = PipelineState.PAUSED;
        update(stage, stageStatus.get(stage).withState(PipelineState.PAUSED));
        log.info("pipeline paused during stage {}", stage);
        Workflow.await(() -> !pauseRequested || rotationDue());
        if (!pauseRequested) {
            state = PipelineState.RUNNING;
            setAttempts(stage, attempts.getOrDefault(stage, StageAttempts.NONE).resumedByUser());
            update(stage, stageStatus.get(stage).withState(PipelineState.RUNNING));
            log.info("pipeline resumed; stage {} continues from its last checkpoint", stage);
        }
    }

    private void setAttempts(String stage, StageAttempts a) {
        attempts.put(stage, a);
        String next = a.nextAttemptAtMillis() == null ? null : Instant.ofEpochMilli(a.nextAttemptAtMillis()).toString();
        update(stage, stageStatus.get(stage).withAttempts(a.started(), a.lastFailure(), next));
    }

    /** Each attempt is one activity execution: the workflow retries, so it can count and show the attempts. */
    private static ActivityOptions stageOptions(StageSpec stage) {
        return ActivityOptions.newBuilder()
                .setTaskQueue(stage.taskQueue())
                .setStartToCloseTimeout(stage.startToClose())
                .setHeartbeatTimeout(stage.heartbeatTimeout())
                // No ScheduleToStart: a stage may wait in the queue for a free GPU for as long as it takes.
                .setCancellationType(ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
                .setRetryOptions(RetryOptions.newBuilder().setMaximumAttempts(1).build())
                .setSummary(stage.name() + " stage")
                .build();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Continue-as-new

    /**
     * True once this run's history passed the spec's {@code history_limit_events} (or the server suggests a new run).
     * Checked only where no attempt runs or where one is about to be stopped like a pause, so a rotation costs one
     * stop checkpoint.
     */
    private boolean rotationDue() {
        return Workflow.getInfo().getHistoryLength() > historyLimit || Workflow.getInfo().isContinueAsNewSuggested();
    }

    private void continueAsNew(JsonNode specJson) {
        log.info("history at {} events: continuing as new (run {} of this pipeline)",
                Workflow.getInfo().getHistoryLength(), workflowRuns + 1);
        PipelineCarry carry = new PipelineCarry(startMillis, workflowRuns + 1, specHash, searchAttributes,
                pauseRequested, new LinkedHashMap<>(results), new LinkedHashMap<>(stageStatus),
                new LinkedHashMap<>(attempts));
        Workflow.continueAsNew(specJson, carry);
    }

    private void restore(PipelineCarry c) {
        startMillis = c.startedAtMillis();
        workflowRuns = c.workflowRuns();
        specHash = c.specHash();
        searchAttributes = c.searchAttributes();
        pauseRequested = pauseRequested || c.pauseRequested();
        results.putAll(c.results());
        stageStatus.putAll(c.stages());
        attempts.putAll(c.attempts());
    }

    // ---------------------------------------------------------------------------------------------------------
    // Shared by both shapes

    /** Checks the run id and parses the spec; neither issues a command, so every history shape replays. */
    PipelineSpec parseOrFail(String runId, JsonNode specJson) {
        try {
            // The run id names the run's S3 directory: a workflow started without the CLI (temporal CLI, another
            // SDK) must not be able to point it elsewhere.
            SafeNames.check(runId, "run id (the workflow id)");
        } catch (IllegalArgumentException e) {
            state = PipelineState.FAILED;
            error = e.getMessage();
            throw ApplicationFailure.newNonRetryableFailure("invalid run id: " + e.getMessage(), BAD_INPUT);
        }
        try {
            return PipelineSpec.parse(specJson);
        } catch (IllegalArgumentException e) {
            state = PipelineState.FAILED;
            error = e.getMessage();
            throw ApplicationFailure.newNonRetryableFailure("invalid pipeline spec: " + e.getMessage(), BAD_INPUT);
        }
    }

    static Functions.Func1<StageInput, StageResult> activityOf(StageActivities activities, String stage) {
        return switch (stage) {
            case Stages.PRETRAIN -> activities::pretrain;
            case Stages.SFT -> activities::sft;
            case Stages.REWARD -> activities::reward;
            case Stages.PPO -> activities::ppo;
            case Stages.GRPO -> activities::grpo;
            case Stages.DPO -> activities::dpo;
            default -> throw new IllegalStateException("no activity for stage " + stage);
        };
    }

    /** One activity attempt in a scope of its own, so a pause can cancel it without cancelling the run. */
    static final class AttemptScope {
        final CancellationScope scope;
        Promise<StageResult> promise;

        AttemptScope(java.util.function.Supplier<Promise<StageResult>> start) {
            scope = Workflow.newCancellationScope(() -> {
                promise = start.get();
            });
            scope.run();
        }
    }

    PipelineResult finish(String runId, long startedAt, Map<String, StageResult> stageResults) {
        double wall = (Workflow.currentTimeMillis() - startedAt) / 1000.0;
        PipelineResult result = new PipelineResult(runId, state, wall, error, new LinkedHashMap<>(stageResults));
        publishDetails();
        // The summary must be written even when the run was cancelled, so it runs outside the cancelled scope.
        CancellationScope detached = Workflow.newDetachedCancellationScope(() -> {
            try {
                controlActivities(Duration.ofMinutes(1), 5).publishSummary(result);
            } catch (ActivityFailure e) {
                log.warn("could not publish summary.json: {}", rootMessage(e));
            }
        });
        detached.run();
        return result;
    }

    /** @param timeout one small S3 write or read; retries cover a blip */
    private static PipelineActivities controlActivities(Duration timeout, int attempts) {
        return Workflow.newActivityStub(PipelineActivities.class, ActivityOptions.newBuilder()
                .setTaskQueue(TaskQueues.CONTROL)
                .setStartToCloseTimeout(timeout)
                .setRetryOptions(RetryOptions.newBuilder().setMaximumAttempts(attempts).setDoNotRetry(BAD_INPUT).build())
                .build());
    }

    @Override
    public PipelineStatus status() {
        return new PipelineStatus(Workflow.getInfo().getWorkflowId(), state, currentStage, error,
                new LinkedHashMap<>(stageStatus), specHash, workflowRuns);
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
        update(p.stage(), old.withProgress(p.step(), p.totalSteps(), metrics,
                p.checkpoint() != null ? p.checkpoint() : old.checkpoint()));
    }

    void markCurrent(PipelineState s) {
        if (currentStage != null && stageStatus.containsKey(currentStage)) {
            update(currentStage, stageStatus.get(currentStage).withState(s));
        }
    }

    void update(String stage, StageStatus status) {
        stageStatus.put(stage, status);
        publishDetails();
    }

    void publishDetails() {
        Workflow.setCurrentDetails(StatusMarkdown.render(status()));
        upsertSearchAttributes();
    }

    /**
     * Stage, state and step as search attributes, only those registered (an unregistered one would fail the workflow
     * task on a real cluster) and only when they changed (each upsert is a history event).
     */
    private void upsertSearchAttributes() {
        if (!durable || searchAttributes.isEmpty()) {
            return;
        }
        List<SearchAttributeUpdate<?>> updates = new ArrayList<>();
        if (currentStage != null) {
            changed(PipelineSearchAttributes.STAGE.getName(), currentStage,
                    () -> updates.add(PipelineSearchAttributes.STAGE.valueSet(currentStage)));
            StageStatus s = stageStatus.get(currentStage);
            if (s != null) {
                changed(PipelineSearchAttributes.STEP.getName(), s.step(),
                        () -> updates.add(PipelineSearchAttributes.STEP.valueSet(s.step())));
            }
        }
        changed(PipelineSearchAttributes.STATE.getName(), state.name(),
                () -> updates.add(PipelineSearchAttributes.STATE.valueSet(state.name())));
        if (!updates.isEmpty()) {
            Workflow.upsertTypedSearchAttributes(updates.toArray(new SearchAttributeUpdate<?>[0]));
        }
    }

    private void changed(String name, Object value, Runnable add) {
        if (searchAttributes.contains(name) && !Objects.equals(upserted.get(name), value)) {
            upserted.put(name, value);
            add.run();
        }
    }

    private static Scope metrics(String runId, String stage) {
        return Workflow.getMetricsScope().tagged(Map.of("run", runId, "stage", stage));
    }

    static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null) {
            c = c.getCause();
        }
        return c instanceof ApplicationFailure af ? af.getOriginalMessage() : c.getMessage();
    }

    /** Ends the stage as FAILED with a message for status and the summary. */
    private static final class StageFailed extends RuntimeException {
        StageFailed(String message) {
            super(message, null, false, false);
        }
    }
}
