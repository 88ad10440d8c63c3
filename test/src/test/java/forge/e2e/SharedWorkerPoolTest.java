package forge.e2e;

import forge.worker.Role;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineState;
import io.temporal.api.enums.v1.EventType;
import io.temporal.api.history.v1.HistoryEvent;
import io.temporal.client.WorkflowStub;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two pipelines, one GPU slot: the second stage waits in the queue instead of oversubscribing the device. */
class SharedWorkerPoolTest {
    @TempDir
    Path dir;

    /** When a run's stage was scheduled, started and completed, from the server's history. */
    record Interval(Instant scheduled, Instant started, Instant completed) {}

    @Test
    void aSecondStageWaitsForTheOnlySlot() throws Exception {
        try (TestStack stack = new TestStack(dir)) {
            stack.inProcessWorker(Role.ALL); // FORGE_GPU_SLOTS defaults to 1
            var spec = TestStack.tinySpec(400, 1000);
            TestStack.pretrain(spec).put("cache", false); // both stages must really need the slot
            WorkflowStub a = stack.start("pool-a", spec);
            WorkflowStub b = stack.start("pool-b", spec);
            assertEquals(PipelineState.COMPLETED, a.getResult(3, TimeUnit.MINUTES, PipelineResult.class).state());
            assertEquals(PipelineState.COMPLETED, b.getResult(3, TimeUnit.MINUTES, PipelineResult.class).state());

            // Polling two runs' pending activities cannot tell a handover from an overlap (two describes are not one
            // snapshot); the histories record when each stage really started and completed.
            Interval ia = stageInterval(stack, "pool-a");
            Interval ib = stageInterval(stack, "pool-b");
            Interval first = ia.started().isBefore(ib.started()) ? ia : ib;
            Interval second = first == ia ? ib : ia;
            assertTrue(!second.started().isBefore(first.completed()),
                    "two stages ran at once on a one-slot worker: " + ia + " and " + ib);
            assertTrue(second.scheduled().isBefore(first.completed()) && second.started().isAfter(second.scheduled()),
                    "the second stage should have waited in the queue while the first ran: " + ia + " and " + ib);
        }
    }

    /** The pretrain stage's activity, not the checks before it, which run on their own queue and take no slot. */
    private static Interval stageInterval(TestStack stack, String runId) {
        Instant scheduled = null;
        Instant started = null;
        Instant completed = null;
        long stageEvent = -1;
        for (HistoryEvent e : stack.client.fetchHistory(runId).getHistory().getEventsList()) {
            Instant t = Instant.ofEpochSecond(e.getEventTime().getSeconds(), e.getEventTime().getNanos());
            if (e.getEventType() == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && stageEvent < 0
                    && e.getActivityTaskScheduledEventAttributes().getActivityType().getName().equals("Pretrain")) {
                stageEvent = e.getEventId();
                scheduled = t;
            } else if (e.getEventType() == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED && started == null
                    && e.getActivityTaskStartedEventAttributes().getScheduledEventId() == stageEvent) {
                started = t;
            } else if (e.getEventType() == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED && completed == null
                    && e.getActivityTaskCompletedEventAttributes().getScheduledEventId() == stageEvent) {
                completed = t;
            }
        }
        return new Interval(scheduled, started, completed);
    }
}
