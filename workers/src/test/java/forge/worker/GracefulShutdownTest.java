package forge.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.CommitPauses;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.Manifest;
import forge.storage.EmbeddedS3;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.workflow.StageActivities;
import forge.workflow.StageInput;
import forge.workflow.StageProgress;
import forge.workflow.TaskQueues;
import io.temporal.activity.ActivityCancellationType;
import io.temporal.activity.ActivityOptions;
import io.temporal.api.enums.v1.EventType;
import io.temporal.api.history.v1.HistoryEvent;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowOptions;
import io.temporal.client.WorkflowStub;
import io.temporal.common.RetryOptions;
import io.temporal.testing.TestEnvironmentOptions;
import io.temporal.testing.TestWorkflowEnvironment;
import io.temporal.worker.Worker;
import io.temporal.workflow.SignalMethod;
import io.temporal.workflow.Workflow;
import io.temporal.workflow.WorkflowInterface;
import io.temporal.workflow.WorkflowMethod;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGTERM on a GPU worker (what {@code ./forge worker} does on it: {@link ForgeWorkers#close}) while the stop
 * checkpoint takes longer to upload than the heartbeat timeout: the stage keeps heartbeating through the grace
 * period, so its attempt ends as a worker shutdown — not a heartbeat timeout racing a replacement — and the next
 * attempt, on another worker, continues from that checkpoint.
 */
class GracefulShutdownTest {
    private static final Duration HEARTBEAT_TIMEOUT = Duration.ofSeconds(2);
    private static final String WORKFLOW_QUEUE = "graceful-shutdown";

    @TempDir
    Path dir;

    @WorkflowInterface
    public interface OneStage {
        @WorkflowMethod
        long run(StageInput input);

        @SignalMethod
        void stageProgress(StageProgress progress);
    }

    public static class OneStageImpl implements OneStage {
        private final StageActivities stages = Workflow.newActivityStub(StageActivities.class,
                ActivityOptions.newBuilder()
                        .setTaskQueue(TaskQueues.GPU)
                        .setStartToCloseTimeout(Duration.ofMinutes(5))
                        .setHeartbeatTimeout(HEARTBEAT_TIMEOUT)
                        .setCancellationType(ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
                        .setRetryOptions(RetryOptions.newBuilder().setInitialInterval(Duration.ofMillis(200))
                                .setMaximumAttempts(3).build())
                        .build());

        @Override
        public long run(StageInput input) {
            return stages.pretrain(input).steps();
        }

        @Override
        public void stageProgress(StageProgress progress) {
        }
    }

    static JsonNode spec() throws Exception {
        return new ObjectMapper(new YAMLFactory()).readTree("""
                seed: 4
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                tokenizer: {type: char}
                data: {sources: [{path: "demo:pretrain?seed=3&docs=300"}]}
                train: {max_steps: 150, batch_size: 4, warmup_steps: 5}
                eval: {interval: 1000, batches: 2}
                checkpoint: {interval_steps: 20, interval_seconds: 3600, keep_last: 2}
                sample: {count: 0}
                """);
    }

    @Test
    void sigtermKeepsTheStopCheckpointHeartbeatingThroughTheGracePeriod() throws Exception {
        try (EmbeddedS3 s3 = EmbeddedS3.start(dir, "127.0.0.1", 0, "graceful", "graceful-key", "graceful-secret");
             TestWorkflowEnvironment env = TestWorkflowEnvironment.newInstance(
                     TestEnvironmentOptions.newBuilder().setUseTimeskipping(false).build())) {
            s3.useAsDefaultCredentials();
            S3Settings s3Settings = s3.settings("runs");
            WorkerSettings settings = WorkerSettings.fromEnvironment(Map.of()).withS3(s3Settings)
                    .withMetricsPort(-1).withHeartbeatInterval(Duration.ofSeconds(1));
            Worker control = env.newWorker(WORKFLOW_QUEUE);
            control.registerWorkflowImplementationTypes(OneStageImpl.class);
            env.start();
            WorkflowClient client = env.getWorkflowClient();
            try (S3Storage storage = new S3Storage(s3Settings)) {
                ForgeWorkers preempted = ForgeWorkers.start(Role.GPU, client, storage, settings,
                        List.of(TaskQueues.GPU));
                OneStage wf = client.newWorkflowStub(OneStage.class,
                        WorkflowOptions.newBuilder().setTaskQueue(WORKFLOW_QUEUE).setWorkflowId("preempted").build());
                WorkflowClient.start(wf::run, new StageInput("preempted", "pretrain", spec(), null, Map.of()));
                S3Uri root = s3Settings.stageRoot("preempted", "pretrain");
                S3Uri first = root.resolve(CheckpointStore.stepDir(20) + "-e000001").resolve(Manifest.FILE_NAME);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (!storage.exists(first)) {
                    assertTrue(System.nanoTime() < deadline, "the stage never checkpointed");
                    Thread.sleep(20);
                }

                long closeMs;
                try (AutoCloseable slowUpload = CommitPauses.override(HEARTBEAT_TIMEOUT.toMillis() * 2, 0)) {
                    long t0 = System.nanoTime();
                    preempted.close(); // SIGTERM's shutdown hook: returns once the stage has stopped
                    closeMs = (System.nanoTime() - t0) / 1_000_000;
                }
                LoadedCheckpoint stop = new CheckpointStore(storage, root, 2).latest().orElseThrow();
                assertEquals(1, stop.epoch());
                assertTrue(stop.step() > 20, "the checkpoint written on SIGTERM: " + stop.uri());
                assertTrue(closeMs >= HEARTBEAT_TIMEOUT.toMillis(), "the upload outlasted the heartbeat timeout: "
                        + closeMs + " ms");

                try (ForgeWorkers next = ForgeWorkers.start(Role.GPU, client, storage, settings,
                        List.of(TaskQueues.GPU))) {
                    assertEquals(150L, WorkflowStub.fromTyped(wf).getResult(2, TimeUnit.MINUTES, Long.class));
                }
                HistoryEvent started = client.fetchHistory("preempted").getEvents().stream()
                        .filter(e -> e.getEventType() == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
                        .reduce((a, b) -> b).orElseThrow();
                var attrs = started.getActivityTaskStartedEventAttributes();
                assertEquals(2, attrs.getAttempt(), "one retry, after the shutdown");
                assertFalse(attrs.getLastFailure().hasTimeoutFailureInfo(),
                        "the first attempt ended as a shutdown, not a heartbeat timeout: " + attrs.getLastFailure());
            }
        }
    }
}
