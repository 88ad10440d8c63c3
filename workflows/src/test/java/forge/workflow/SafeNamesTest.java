package forge.workflow;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowFailedException;
import io.temporal.client.WorkflowOptions;
import io.temporal.client.WorkflowStub;
import io.temporal.failure.ApplicationFailure;
import io.temporal.testing.TestWorkflowEnvironment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Run ids and stage names become S3 key segments: anything that could leave its directory is refused. */
class SafeNamesTest {
    @ParameterizedTest
    @ValueSource(strings = {"demo-20261125-172126", "run_1", "a.b", "A", "x.y-z_0"})
    void ordinaryNamesPass(String name) {
        assertEquals(name, SafeNames.check(name, "run id"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"..", "a..b", "../etc", "a/b", "/abs", "a\\b", "a b", "tab\there", "nl\nx", "nul\u0000",
            "del\u007f", "é", ".", ""})
    void namesThatCouldEscapeOrForgeALogLineAreRefusedNamingTheField(String name) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeNames.check(name, "run id"));
        assertTrue(e.getMessage().startsWith("run id "), e.getMessage());
        assertFalse(e.getMessage().contains("\n") || e.getMessage().contains("\u0000"),
                "control characters are escaped in the message: " + e.getMessage());
    }

    @Test
    void lengthIsBounded() {
        assertEquals(128, SafeNames.check("r".repeat(128), "run id").length());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SafeNames.check("r".repeat(129), "run id"));
        assertTrue(e.getMessage().contains("longer than 128"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SafeNames.check(null, "run id"));
    }

    @Test
    void aStageNameOutsideTheRecipeIsRefusedByTheSpecNamingIt() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(
                new ObjectMapper().readTree("{\"stages\": {\"../pretrain\": {}}}")));
        assertTrue(e.getMessage().startsWith("stages.../pretrain: unknown stage"), e.getMessage());
    }

    /** A workflow started without the CLI (temporal CLI, another SDK) is checked by the workflow itself. */
    @ParameterizedTest
    @ValueSource(strings = {"../escape", "a/b", "two..dots"})
    void aWorkflowStartedDirectlyWithABadRunIdFailsAtOnceWithoutRetrying(String runId) throws Exception {
        try (TestWorkflowEnvironment env = TestWorkflowEnvironment.newInstance()) {
            FakeControl control = new FakeControl();
            env.newWorker(TaskQueues.CONTROL).registerWorkflowImplementationTypes(TrainingPipelineImpl.class);
            env.newWorker(TaskQueues.CONTROL).registerActivitiesImplementations(control);
            env.start();
            WorkflowClient client = env.getWorkflowClient();
            TrainingPipeline p = client.newWorkflowStub(TrainingPipeline.class,
                    WorkflowOptions.newBuilder().setWorkflowId(runId).setTaskQueue(TaskQueues.CONTROL).build());
            WorkflowClient.start(p::run, new ObjectMapper().readTree(
                    "{\"name\": \"t\", \"stages\": {\"pretrain\": {\"steps\": 10}}}"), null);
            WorkflowFailedException e = assertThrows(WorkflowFailedException.class,
                    () -> WorkflowStub.fromTyped(p).getResult(10, TimeUnit.SECONDS, PipelineResult.class));
            ApplicationFailure failure = (ApplicationFailure) e.getCause();
            assertTrue(failure.isNonRetryable());
            assertEquals(TrainingPipelineImpl.BAD_INPUT, failure.getType());
            assertTrue(failure.getOriginalMessage().contains("run id (the workflow id)"), failure.getOriginalMessage());
            assertEquals(PipelineState.FAILED, p.status().state());
            assertEquals(List.of(), control.calls, "nothing is checked or written for a run whose id was refused");
        }
    }
}
