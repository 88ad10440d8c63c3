package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.temporal.api.common.v1.WorkflowExecution;
import io.temporal.api.enums.v1.EventType;
import io.temporal.api.history.v1.HistoryEvent;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowOptions;
import io.temporal.client.WorkflowStub;
import io.temporal.common.WorkflowExecutionHistory;
import io.temporal.testing.TestWorkflowEnvironment;
import io.temporal.worker.WorkerOptions;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Temporal's test server with the workflow, the fake control activities and a stage implementation on forge-gpu:
 * the fixture of the workflow tests. Runs start as {@code temporal workflow start} starts them, with the spec as the
 * only argument.
 */
final class PipelineEnv implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    final TestWorkflowEnvironment env;
    final FakeControl control = new FakeControl();
    final WorkflowClient client;

    PipelineEnv(StageActivities stage, String... extraStageQueues) {
        env = TestWorkflowEnvironment.newInstance();
        env.newWorker(TaskQueues.CONTROL).registerWorkflowImplementationTypes(TrainingPipelineImpl.class);
        env.newWorker(TaskQueues.CONTROL).registerActivitiesImplementations(control);
        List<String> queues = new ArrayList<>(List.of(TaskQueues.GPU));
        queues.addAll(List.of(extraStageQueues));
        for (String q : queues) {
            // Every heartbeat reaches the server at once: tests count on a stopped worker being noticed.
            env.newWorker(q, WorkerOptions.newBuilder()
                    .setMaxHeartbeatThrottleInterval(java.time.Duration.ofMillis(10))
                    .setDefaultHeartbeatThrottleInterval(java.time.Duration.ofMillis(10)).build())
                    .registerActivitiesImplementations(stage);
            env.newWorker(TaskQueues.checks(q)).registerActivitiesImplementations(control);
        }
        client = env.getWorkflowClient();
        env.start();
    }

    static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (Exception e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** @return the first run of the pipeline */
    WorkflowExecution start(String id, JsonNode spec) {
        return client.newUntypedWorkflowStub("TrainingPipeline", WorkflowOptions.newBuilder().setWorkflowId(id)
                .setTaskQueue(TaskQueues.CONTROL).build()).start(spec);
    }

    TrainingPipeline pipeline(String id) {
        return client.newWorkflowStub(TrainingPipeline.class, id);
    }

    WorkflowStub stub(String id) {
        return client.newUntypedWorkflowStub(id);
    }

    PipelineResult result(String id) throws java.util.concurrent.TimeoutException {
        return stub(id).getResult(60, TimeUnit.SECONDS, PipelineResult.class);
    }

    /** Every run of a pipeline, first to last, followed through its continue-as-new events. */
    List<WorkflowExecutionHistory> runs(WorkflowExecution first) {
        List<WorkflowExecutionHistory> out = new ArrayList<>();
        WorkflowExecution run = first;
        while (run != null) {
            WorkflowExecutionHistory h = client.fetchHistory(run.getWorkflowId(), run.getRunId());
            out.add(h);
            HistoryEvent last = h.getLastEvent();
            run = last.getEventType() == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
                    ? WorkflowExecution.newBuilder().setWorkflowId(first.getWorkflowId())
                            .setRunId(last.getWorkflowExecutionContinuedAsNewEventAttributes().getNewExecutionRunId())
                            .build()
                    : null;
        }
        return out;
    }

    static void waitUntil(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met in 30 s");
            }
            Thread.sleep(20);
        }
    }

    @Override
    public void close() {
        env.close();
    }
}
