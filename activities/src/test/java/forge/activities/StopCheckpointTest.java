package forge.activities;

import com.fasterxml.jackson.databind.JsonNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.CommitPauses;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.Manifest;
import forge.storage.EmbeddedS3;
import forge.storage.FaultyS3Proxy;
import forge.storage.LocalS3;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainingMetrics;
import forge.workflow.StageActivities;
import forge.workflow.StageInput;
import forge.workflow.StageProgress;
import forge.workflow.StageResult;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.temporal.activity.ActivityCancellationType;
import io.temporal.activity.ActivityOptions;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowOptions;
import io.temporal.client.WorkflowStub;
import io.temporal.common.RetryOptions;
import io.temporal.failure.ActivityFailure;
import io.temporal.failure.CanceledFailure;
import io.temporal.testing.TestEnvironmentOptions;
import io.temporal.testing.TestWorkflowEnvironment;
import io.temporal.worker.Worker;
import io.temporal.workflow.Async;
import io.temporal.workflow.CancellationScope;
import io.temporal.workflow.Promise;
import io.temporal.workflow.SignalMethod;
import io.temporal.workflow.Workflow;
import io.temporal.workflow.WorkflowInterface;
import io.temporal.workflow.WorkflowMethod;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The activity half of "a pause never fails a run", on the real Temporal test server and a real S3Proxy: the stage
 * activity is paused (its cancellation requested, as the pipeline does) while its stop checkpoint uploads for longer
 * than its heartbeat timeout, or while S3 fails every write; either way the activity reports a cancellation — what
 * the workflow turns into PAUSED — and the stage resumes from its last committed checkpoint to the bytes of an
 * uninterrupted run.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StopCheckpointTest {
    private static final String QUEUE = "stop-checkpoint";
    /** Far shorter than a stop checkpoint's upload below: without heartbeats through it the attempt times out. */
    private static final Duration HEARTBEAT_TIMEOUT = Duration.ofSeconds(2);
    private static final int MAX_STEPS = 240;
    private static final int CHECKPOINT_EVERY = 30;

    @TempDir
    static Path dir;
    EmbeddedS3 s3;
    S3Storage direct;
    FaultyS3Proxy proxy;
    S3Storage throughProxy;
    S3Settings settings;
    TestWorkflowEnvironment env;
    byte[] straightModel;
    byte[] straightOptimizer;

    /** Runs one stage activity and lets a signal cancel it, as the pipeline's pause does. */
    @WorkflowInterface
    public interface OneStage {
        @WorkflowMethod
        String run(StageInput input);

        @SignalMethod
        void pause();

        /** What the stage activity reports at milestones; nothing to do with it here. */
        @SignalMethod
        void stageProgress(StageProgress progress);
    }

    public static class OneStageImpl implements OneStage {
        private final StageActivities stages = Workflow.newActivityStub(StageActivities.class,
                ActivityOptions.newBuilder()
                        .setStartToCloseTimeout(Duration.ofMinutes(5))
                        .setHeartbeatTimeout(HEARTBEAT_TIMEOUT)
                        .setCancellationType(ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
                        .setRetryOptions(RetryOptions.newBuilder().setMaximumAttempts(1).build())
                        .build());
        private boolean pauseRequested;

        @Override
        public String run(StageInput input) {
            Promise<StageResult>[] result = new Promise[1];
            CancellationScope scope = Workflow.newCancellationScope(
                    () -> result[0] = Async.function(stages::pretrain, input));
            scope.run();
            Workflow.await(() -> pauseRequested || result[0].isCompleted());
            if (pauseRequested) {
                scope.cancel();
            }
            try {
                return "COMPLETED at " + result[0].get().steps();
            } catch (ActivityFailure e) {
                return e.getCause() instanceof CanceledFailure ? "PAUSED" : "FAILED: " + e.getCause();
            }
        }

        @Override
        public void pause() {
            pauseRequested = true;
        }

        @Override
        public void stageProgress(StageProgress progress) {
        }
    }

    static JsonNode spec(int checkpointEvery) throws Exception {
        return new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
                .readTree("""
                        seed: 21
                        model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32, dropout: 0.1}
                        tokenizer: {type: char}
                        data: {sources: [{path: "demo:pretrain?seed=3&docs=400"}]}
                        train: {max_steps: %d, batch_size: 4, warmup_steps: 5}
                        eval: {interval: 1000, batches: 2}
                        checkpoint: {interval_steps: %d, interval_seconds: 3600, keep_last: 2}
                        sample: {count: 0}
                        """.formatted(MAX_STEPS, checkpointEvery));
    }

    @BeforeAll
    void up() throws Exception {
        s3 = LocalS3.start(dir.resolve("s3"));
        direct = new S3Storage(s3.settings("runs"), LocalS3.testOptions());
        proxy = FaultyS3Proxy.start(s3.endpoint(), 7, FaultyS3Proxy.Rates.NONE, Duration.ofSeconds(1));
        settings = S3Settings.local(proxy.endpoint(), s3.bucket(), "runs");
        throughProxy = new S3Storage(settings, LocalS3.testOptions());
        env = TestWorkflowEnvironment.newInstance(TestEnvironmentOptions.newBuilder().setUseTimeskipping(false).build());
        Worker worker = env.newWorker(QUEUE);
        worker.registerWorkflowImplementationTypes(OneStageImpl.class);
        worker.registerActivitiesImplementations(new StageActivitiesImpl(throughProxy, settings,
                env.getWorkflowClient()));
        env.start();

        StageOutcome straight = new PretrainStage(PretrainConfig.parse(spec(CHECKPOINT_EVERY)), store("straight"), direct,
                metrics("straight"), null).run(StageControl.NONE);
        LoadedCheckpoint fin = store("straight").loadFinal().orElseThrow();
        assertEquals(MAX_STEPS, straight.step());
        straightModel = fin.file("model.safetensors");
        straightOptimizer = fin.file("optimizer.safetensors");
    }

    @AfterAll
    void down() {
        env.close();
        throughProxy.close();
        proxy.close();
        direct.close();
        s3.close();
    }

    private CheckpointStore store(String run) {
        return new CheckpointStore(direct, s3.settings("runs").stageRoot(run, "pretrain"), 2);
    }

    private static TrainingMetrics metrics(String run) {
        return new TrainingMetrics(new SimpleMeterRegistry(), run, "pretrain");
    }

    private WorkflowStub start(String run, int checkpointEvery) throws Exception {
        OneStage wf = env.getWorkflowClient().newWorkflowStub(OneStage.class,
                WorkflowOptions.newBuilder().setTaskQueue(QUEUE).setWorkflowId(run).build());
        WorkflowClient.start(wf::run, new StageInput(run, "pretrain", spec(checkpointEvery), null, Map.of()));
        return WorkflowStub.fromTyped(wf);
    }

    /** Waits until the stage has committed the checkpoint of {@code step} (read past the proxy). */
    private void awaitCommitted(String run, long step) throws InterruptedException {
        S3Uri manifest = s3.settings("runs").stageRoot(run, "pretrain")
                .resolve(CheckpointStore.stepDir(step) + "-e000001").resolve(Manifest.FILE_NAME);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!direct.exists(manifest)) {
            assertTrue(System.nanoTime() < deadline, "step " + step + " was never committed");
            Thread.sleep(20);
        }
    }

    /** The stage continues where it stopped, without Temporal, and must end with the uninterrupted run's bytes. */
    private void assertResumesToTheUninterruptedResult(String run) throws Exception {
        StageOutcome resumed = new PretrainStage(PretrainConfig.parse(spec(CHECKPOINT_EVERY)), store(run), direct, metrics(run),
                null).run(StageControl.NONE);
        assertTrue(resumed.completed());
        LoadedCheckpoint fin = store(run).loadFinal().orElseThrow();
        assertArrayEquals(straightModel, fin.file("model.safetensors"));
        assertArrayEquals(straightOptimizer, fin.file("optimizer.safetensors"));
    }

    @Test
    void aStopCheckpointSlowerThanTheHeartbeatTimeoutStillEndsPaused() throws Exception {
        WorkflowStub run = start("slow-stop", CHECKPOINT_EVERY);
        awaitCommitted("slow-stop", CHECKPOINT_EVERY);
        long uploadMs = HEARTBEAT_TIMEOUT.toMillis() * 2;
        String result;
        try (AutoCloseable slow = CommitPauses.override(uploadMs, 0)) {
            run.signal("pause");
            result = run.getResult(2, TimeUnit.MINUTES, String.class);
        }
        assertEquals("PAUSED", result, "the stop checkpoint heartbeats while it uploads");
        LoadedCheckpoint stop = store("slow-stop").latest().orElseThrow();
        assertTrue(stop.step() > CHECKPOINT_EVERY && stop.step() < MAX_STEPS, "the stop checkpoint, intact: " + stop.uri());
        assertEquals(1, stop.epoch());
        assertResumesToTheUninterruptedResult("slow-stop");
    }

    @Test
    void aFailureAfterThePauseRequestStillEndsPausedAtTheLastCommittedCheckpoint() throws Exception {
        WorkflowStub run = start("failing-stop", CHECKPOINT_EVERY);
        awaitCommitted("failing-stop", CHECKPOINT_EVERY);
        // From the pause request on, no manifest reaches S3: the stop checkpoint cannot commit.
        proxy.schedule(FaultyS3Proxy.Fault.HTTP_500, "PUT",
                Pattern.compile("/failing-stop/pretrain/[^/]+/" + Pattern.quote(Manifest.FILE_NAME) + "$"), 1000);
        // Each commit waits a second before its manifest, so the stage cannot reach final/ (on a quiet machine the
        // tiny model trains its 240 steps in under a second) before the heartbeat brings it the pause request.
        try (AutoCloseable slow = CommitPauses.override(0, 1000)) {
            run.signal("pause");
            assertEquals("PAUSED", run.getResult(2, TimeUnit.MINUTES, String.class),
                    "a failed stop checkpoint is no reason to fail the run");
        }
        LoadedCheckpoint last = store("failing-stop").latest().orElseThrow();
        assertTrue(last.step() >= CHECKPOINT_EVERY && last.step() % CHECKPOINT_EVERY == 0, "the last committed checkpoint: " + last.uri());
        assertResumesToTheUninterruptedResult("failing-stop");
    }
}
