package forge.e2e;

import forge.worker.Role;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineState;
import io.temporal.api.enums.v1.PendingActivityState;
import io.temporal.client.WorkflowStub;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two pipelines, one GPU slot: the second stage waits in the queue instead of oversubscribing the device. */
class SharedWorkerPoolTest {
    @TempDir
    Path dir;

    @Test
    void aSecondStageWaitsForTheOnlySlot() throws Exception {
        try (TestStack stack = new TestStack(dir)) {
            stack.inProcessWorker(Role.ALL); // FORGE_GPU_SLOTS defaults to 1
            var spec = TestStack.tinySpec(400, 1000);
            TestStack.pretrain(spec).put("cache", false); // both stages must really need the slot
            WorkflowStub a = stack.start("pool-a", spec);
            WorkflowStub b = stack.start("pool-b", spec);
            boolean sawOneWaiting = false;
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            while (System.nanoTime() < deadline) {
                // Two describes are not one snapshot: a may finish and b start between them. Only a's stage
                // running both before and after b was seen running is an overlap.
                int aBefore = started(stack, "pool-a");
                int bNow = started(stack, "pool-b");
                int aAfter = started(stack, "pool-a");
                assertTrue(Math.min(aBefore, aAfter) + bNow <= 1, "two stages ran at once on a one-slot worker");
                sawOneWaiting |= aBefore + bNow == 1 && aAfter + bNow == 1
                        && (scheduled(stack, "pool-a") + scheduled(stack, "pool-b")) == 1;
                if (closed(stack, "pool-a") && closed(stack, "pool-b")) {
                    break;
                }
                Thread.sleep(100);
            }
            assertTrue(sawOneWaiting, "one stage should have waited in the queue while the other ran");
            assertEquals(PipelineState.COMPLETED, a.getResult(1, TimeUnit.MINUTES, PipelineResult.class).state());
            assertEquals(PipelineState.COMPLETED, b.getResult(1, TimeUnit.MINUTES, PipelineResult.class).state());
        }
    }

    private static int started(TestStack stack, String runId) {
        return (int) Progress.describe(stack.client, runId).getPendingActivitiesList().stream()
                .filter(p -> p.getState() == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED).count();
    }

    private static int scheduled(TestStack stack, String runId) {
        return (int) Progress.describe(stack.client, runId).getPendingActivitiesList().stream()
                .filter(p -> p.getState() == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED).count();
    }

    private static boolean closed(TestStack stack, String runId) {
        return Progress.describe(stack.client, runId).getWorkflowExecutionInfo().hasCloseTime();
    }
}
