package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import io.temporal.activity.ActivityOptions;
import io.temporal.testing.WorkflowReplayer;
import io.temporal.workflow.Workflow;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Histories of every released workflow shape must replay against today's code: those from before the workflow retried
 * stages itself, captured from real runs (HistoryCapture in the test module), and those of the durable shape
 * (DurableHistoryCapture). A change that would break running pipelines fails here, not in production.
 */
class HistoryReplayTest {
    @ParameterizedTest
    @ValueSource(strings = {"completed", "paused-resumed", "cancelled", "bad-config", "three-stages", "four-stages", "retried",
            "durable-retried", "durable-paused-resumed", "durable-continued-as-new", "durable-continued-run", "durable-bad-spec"})
    void releasedHistoriesReplay(String name) throws Exception {
        WorkflowReplayer.replayWorkflowExecutionFromResource("histories/" + name + ".json", TrainingPipelineImpl.class);
    }

    @Test
    void aNonDeterministicChangeIsCaught() {
        Exception e = assertThrows(Exception.class, () -> WorkflowReplayer.replayWorkflowExecutionFromResource(
                "histories/completed.json", PublishesBeforeTraining.class));
        boolean nondeterminism = false;
        for (Throwable c = e; c != null; c = c.getCause()) {
            nondeterminism |= c instanceof io.temporal.worker.NonDeterministicException
                    || String.valueOf(c.getMessage()).contains("NonDeterministicException");
        }
        assertTrue(nondeterminism, "expected a non-determinism error, got " + e);
    }

    /** A careless edit: the summary activity now runs before the stage, which reorders the history's commands. */
    public static class PublishesBeforeTraining implements TrainingPipeline {
        @Override
        public PipelineResult run(JsonNode spec, PipelineCarry carried) {
            Workflow.newActivityStub(PipelineActivities.class, ActivityOptions.newBuilder()
                    .setTaskQueue(TaskQueues.CONTROL).setStartToCloseTimeout(Duration.ofMinutes(1)).build())
                    .publishSummary(new PipelineResult("x", PipelineState.RUNNING, 0, null, Map.of()));
            return new TrainingPipelineImpl().run(spec, carried);
        }

        @Override
        public PipelineStatus status() {
            return null;
        }

        @Override
        public void pause() {}

        @Override
        public void resume() {}

        @Override
        public void stageProgress(StageProgress progress) {}
    }
}
