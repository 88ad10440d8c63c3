package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import io.temporal.api.history.v1.HistoryEvent;
import io.temporal.client.WorkflowFailedException;
import io.temporal.common.WorkflowExecutionHistory;
import io.temporal.failure.ApplicationFailure;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bad spec fails before any stage starts, non-retryable and naming the stage and field, in well under a second of
 * workflow time; a run id that holds another spec is refused and the same spec attaches.
 */
class ChecksBeforeFirstStageTest {
    private static final String FOUR_STAGES = "{\"stages\": {\"pretrain\": {}, \"sft\": {}, \"reward\": {}, "
            + "\"ppo\": {}}}";

    private final ScriptedStage stage = new ScriptedStage();
    private final PipelineEnv env = new PipelineEnv(stage);

    @AfterEach
    void close() {
        env.close();
    }

    private ApplicationFailure failure(String id) {
        WorkflowFailedException e = assertThrows(WorkflowFailedException.class, () -> env.result(id));
        ApplicationFailure f = (ApplicationFailure) e.getCause();
        assertTrue(f.isNonRetryable(), "a bad spec is not retried: " + f);
        assertEquals(TrainingPipelineImpl.BAD_INPUT, f.getType());
        return f;
    }

    /** Workflow time from the start to the failure, as the history records it. */
    private Duration workflowTime(String id) {
        WorkflowExecutionHistory h = env.client.fetchHistory(id);
        List<HistoryEvent> events = h.getEvents();
        long first = events.get(0).getEventTime().getSeconds() * 1000 + events.get(0).getEventTime().getNanos() / 1_000_000;
        HistoryEvent lastEvent = events.get(events.size() - 1);
        long last = lastEvent.getEventTime().getSeconds() * 1000 + lastEvent.getEventTime().getNanos() / 1_000_000;
        return Duration.ofMillis(last - first);
    }

    /**
     * One run first, so that the second measured is the workflow's and not the JVM's warm-up (class loading, the
     * workers' first polls): a worker fleet that has run anything is warm.
     */
    private void warmUp() throws Exception {
        env.start("warm-up", PipelineEnv.json("{\"stages\": {\"pretrain\": {}}}"));
        env.result("warm-up");
        stage.inputs.clear();
        env.control.calls.clear();
    }

    @Test
    void aBadConfigInTheLastStageFailsBeforeTheFirstStarts() throws Exception {
        warmUp();
        env.control.stageCheck = in -> in.stage().equals("ppo") ? "rollout.temperatur: unknown key" : null;
        env.start("late-typo", PipelineEnv.json(FOUR_STAGES));
        ApplicationFailure f = failure("late-typo");
        assertTrue(f.getOriginalMessage().contains("stages.ppo.rollout.temperatur: unknown key"), f.getOriginalMessage());
        assertEquals(List.of(), stage.inputs, "no stage ran");
        assertTrue(env.control.calls.containsAll(List.of("CheckStage pretrain", "CheckStage sft", "CheckStage reward",
                "CheckStage ppo")), "every stage is checked: " + env.control.calls);
        assertTrue(workflowTime("late-typo").compareTo(Duration.ofSeconds(1)) < 0, "" + workflowTime("late-typo"));
        PipelineStatus s = env.pipeline("late-typo").status();
        assertEquals(PipelineState.FAILED, s.state());
        assertTrue(s.error().contains("stages.ppo.rollout.temperatur"), s.error());
    }

    @Test
    void unreadableDataAndMissingCheckpointsAreNamedByField() throws Exception {
        warmUp();
        // What StageChecksImpl reports for them on the stage's worker; the workflow fails the run with it at once.
        env.control.stageCheck = in -> in.stage().equals("sft")
                ? "data.sources[0].path: s3://data/chat.jsonl does not exist" : null;
        env.start("no-data", PipelineEnv.json(FOUR_STAGES));
        assertTrue(failure("no-data").getOriginalMessage().contains("stages.sft.data.sources[0].path"));
        assertEquals(List.of(), stage.inputs);
        assertTrue(workflowTime("no-data").compareTo(Duration.ofSeconds(1)) < 0);
    }

    @Test
    void aTaskQueueWithoutWorkersFailsAfterTheWorkerWait() {
        env.start("typo-queue", PipelineEnv.json("{\"worker_wait_seconds\": 2, \"stages\": {\"pretrain\": {}, "
                + "\"sft\": {\"task_queue\": \"forge-gpu-h100\"}}}"));
        String message = failure("typo-queue").getOriginalMessage();
        assertTrue(message.contains("stages.sft.task_queue: no worker on task queue 'forge-gpu-h100'"), message);
        assertEquals(List.of(), stage.inputs, "pretrain did not start either");
        Duration waited = workflowTime("typo-queue");
        assertTrue(waited.compareTo(Duration.ofSeconds(2)) >= 0 && waited.compareTo(Duration.ofSeconds(5)) < 0,
                "a bounded wait of worker_wait_seconds: " + waited);
    }

    @Test
    void aRunIdHoldingAnotherSpecIsRefusedAndTheSameSpecAttaches() throws Exception {
        JsonNode spec = PipelineEnv.json("{\"stages\": {\"pretrain\": {\"steps\": 10}}}");
        env.start("reused", spec);
        assertEquals(PipelineState.COMPLETED, env.result("reused").state());
        assertEquals(SpecHash.of(spec), env.control.recordedSpecs.get("reused"), "the first start records its spec");

        env.start("reused", PipelineEnv.json("{\"stages\": {\"pretrain\": {\"steps\": 20}}}"));
        assertTrue(failure("reused").getOriginalMessage().contains("already holds a run of a different spec"));
        assertEquals(1, stage.attempts("pretrain"), "the other spec trains nothing");

        // Key order and formatting are not a different spec.
        env.start("reused", PipelineEnv.json("{\"stages\":{\"pretrain\":{\"steps\":10}}}"));
        assertEquals(PipelineState.COMPLETED, env.result("reused").state());
    }
}
