package forge.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.worker.Role;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineState;
import forge.workflow.PipelineStatus;
import forge.workflow.StageResult;
import io.temporal.client.WorkflowFailedException;
import io.temporal.client.WorkflowStub;
import io.temporal.failure.ApplicationFailure;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The whole path a user takes: spec → Temporal workflow → activity on a worker → S3 checkpoints → summary. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PipelineEndToEndTest {
    @TempDir
    static Path dir;
    TestStack stack;

    @BeforeAll
    void up() {
        stack = new TestStack(dir);
        stack.inProcessWorker(Role.ALL);
    }

    @AfterAll
    void down() throws Exception {
        stack.close();
    }

    @Test
    void pretrainingCompletesWithCheckpointsAndSummary() throws Exception {
        WorkflowStub run = stack.start("e2e-complete", TestStack.tinySpec(300, 100));
        PipelineResult result = run.getResult(3, TimeUnit.MINUTES, PipelineResult.class);

        assertEquals(PipelineState.COMPLETED, result.state());
        StageResult pretrain = result.stages().get("pretrain");
        assertEquals(300, pretrain.steps());
        double start = pretrain.metrics().get("valLossStart");
        double end = pretrain.metrics().get("valLossEnd");
        double unigram = pretrain.metrics().get("unigramBaseline");
        assertTrue(end < start - 0.5, "validation loss should fall: " + start + " -> " + end);
        assertTrue(end < unigram, "validation loss " + end + " should beat the unigram baseline " + unigram);
        assertTrue(pretrain.tokensPerSecond() > 0);
        assertFalse(pretrain.samples().isEmpty());

        CheckpointStore store = new CheckpointStore(stack.storage, stack.s3.stageRoot("e2e-complete", "pretrain"), 2);
        LoadedCheckpoint fin = store.loadFinal().orElseThrow();
        assertEquals(pretrain.checkpoint(), fin.uri().toString());
        for (String f : new String[] {"model.safetensors", "optimizer.safetensors", "state.json", "tokenizer.json", "config.json"}) {
            assertTrue(fin.files().containsKey(f), "final checkpoint lacks " + f);
        }
        JsonNode state = new ObjectMapper().readTree(fin.file("state.json"));
        assertEquals(42, state.get("config").get("seed").asInt(), "the resolved config travels with the checkpoint");
        assertEquals(0.1, state.get("config").get("model").get("dropout").asDouble());
        assertTrue(store.latest().isPresent(), "step checkpoints are kept next to the final one");

        byte[] summary = stack.storage.get(stack.s3.root().resolve("e2e-complete").resolve("summary.json"));
        JsonNode s = new ObjectMapper().readTree(new String(summary, StandardCharsets.UTF_8));
        assertEquals("COMPLETED", s.get("state").asText());
        assertEquals(start, s.get("stages").get("pretrain").get("metrics").get("valLossStart").asDouble(), 1e-12);

        PipelineStatus status = stack.pipeline("e2e-complete").status();
        assertEquals(PipelineState.COMPLETED, status.state());
        assertEquals(300, status.stages().get("pretrain").step());
    }

    @Test
    void resubmittingAnIdenticalSpecReusesTheFinishedStage() throws Exception {
        ObjectNode spec = TestStack.tinySpec(90, 45);
        PipelineResult first = stack.start("e2e-cache-1", spec).getResult(2, TimeUnit.MINUTES, PipelineResult.class);
        PipelineResult second = stack.start("e2e-cache-2", spec).getResult(2, TimeUnit.MINUTES, PipelineResult.class);
        assertEquals(PipelineState.COMPLETED, second.state());
        assertEquals(1.0, second.stages().get("pretrain").metrics().get("cached"));
        assertEquals(first.stages().get("pretrain").checkpoint(), second.stages().get("pretrain").checkpoint());
    }

    @Test
    void aSpecCanStartAtALaterStageFromAGivenCheckpoint() throws Exception {
        // An earlier run's pretraining output, fine-tuned by a run that has no pretrain stage.
        ObjectNode pretrainOnly = TestStack.tinyPipeline(60, 20, 60);
        ((ObjectNode) pretrainOnly.get("stages")).remove(List.of("sft", "reward", "ppo"));
        PipelineResult base = stack.start("e2e-base", pretrainOnly).getResult(2, TimeUnit.MINUTES, PipelineResult.class);
        String parent = base.stages().get("pretrain").checkpoint();

        ObjectNode sftOnly = TestStack.tinyPipeline(60, 20, 60);
        ((ObjectNode) sftOnly.get("stages")).remove(List.of("pretrain", "reward", "ppo"));
        ObjectNode sft = (ObjectNode) sftOnly.get("stages").get("sft");
        sft.put("init_from", parent + "/");
        PipelineResult result = stack.start("e2e-from-sft", sftOnly).getResult(2, TimeUnit.MINUTES, PipelineResult.class);
        assertEquals(PipelineState.COMPLETED, result.state());
        assertEquals(List.of("sft"), List.copyOf(result.stages().keySet()));
        LoadedCheckpoint fin = new CheckpointStore(stack.storage, stack.s3.stageRoot("e2e-from-sft", "sft"), 2)
                .loadFinal().orElseThrow();
        assertEquals(parent, new ObjectMapper().readTree(fin.file("state.json")).get("parentCheckpoint").asText());

        sft.remove("init_from");
        WorkflowFailedException e = assertThrows(WorkflowFailedException.class, () -> stack.start("e2e-no-parent",
                sftOnly).getResult(1, TimeUnit.MINUTES, PipelineResult.class));
        assertTrue(rootMessage(e).contains("stages.sft.init_from"), rootMessage(e));
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null) {
            c = c.getCause();
        }
        return c instanceof io.temporal.failure.ApplicationFailure af ? af.getOriginalMessage() : c.getMessage();
    }

    @Test
    void cancellingWritesACheckpointAndStops() throws Exception {
        WorkflowStub run = stack.start("e2e-cancel", TestStack.tinySpec(100_000, 100_000));
        long step = waitForStep("e2e-cancel", 30);
        run.cancel();
        assertThrows(Exception.class, () -> run.getResult(2, TimeUnit.MINUTES, PipelineResult.class));

        assertEquals(PipelineState.CANCELLED, stack.pipeline("e2e-cancel").status().state());
        CheckpointStore store = new CheckpointStore(stack.storage, stack.s3.stageRoot("e2e-cancel", "pretrain"), 2);
        LoadedCheckpoint c = store.latest().orElseThrow(() -> new AssertionError("cancel left no checkpoint"));
        assertTrue(c.step() >= step, "checkpoint at step " + c.step() + " should be at or after " + step);
        assertTrue(c.step() < 100_000);
    }

    @Test
    void pauseCheckpointsAndFreesTheWorkerAndResumeFinishesFromThere() throws Exception {
        WorkflowStub run = stack.start("e2e-pause", TestStack.tinySpec(1200, 100_000));
        waitForStep("e2e-pause", 30);
        stack.pipeline("e2e-pause").pause();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (stack.pipeline("e2e-pause").status().state() != PipelineState.PAUSED) {
            assertTrue(System.nanoTime() < deadline, "never paused");
            Thread.sleep(100);
        }
        assertTrue(Progress.describe(stack.client, "e2e-pause").getPendingActivitiesList().isEmpty(),
                "a paused run holds no worker slot");
        CheckpointStore store = new CheckpointStore(stack.storage, stack.s3.stageRoot("e2e-pause", "pretrain"), 2);
        long pausedAt = store.latest().orElseThrow(() -> new AssertionError("pause wrote no checkpoint")).step();
        assertTrue(pausedAt >= 30);

        stack.pipeline("e2e-pause").resume();
        PipelineResult result = run.getResult(3, TimeUnit.MINUTES, PipelineResult.class);
        assertEquals(PipelineState.COMPLETED, result.state());
        assertEquals(1.0, result.stages().get("pretrain").metrics().get("resumes"), "resumed from the pause checkpoint");
    }

    @Test
    void unknownConfigKeyFailsAtOnceNamingIt() {
        ObjectNode spec = TestStack.tinySpec(30, 10);
        ((ObjectNode) TestStack.pretrain(spec).get("train")).put("learning_rte", 0.1);
        assertBadInput("e2e-bad-key", spec, "train.learning_rte");
    }

    @Test
    void indivisibleEmbeddingFailsAtOnceNamingIt() {
        ObjectNode spec = TestStack.tinySpec(30, 10);
        ((ObjectNode) TestStack.pretrain(spec).get("model")).put("n_embd", 33);
        assertBadInput("e2e-bad-embd", spec, "n_embd");
    }

    @Test
    void nonPositiveSizeFailsAtOnceNamingIt() {
        ObjectNode spec = TestStack.tinySpec(30, 10);
        ((ObjectNode) TestStack.pretrain(spec).get("model")).put("n_layer", 0);
        assertBadInput("e2e-bad-layers", spec, "n_layer");
    }

    @Test
    void missingDataFileFailsAtOnceNamingIt() {
        ObjectNode spec = TestStack.tinySpec(30, 10);
        source(spec).put("path", dir.resolve("nope.txt").toString());
        assertBadInput("e2e-missing-file", spec, "nope.txt");
    }

    @Test
    void emptyCorpusFailsAtOnceNamingIt() throws Exception {
        Path empty = Files.writeString(dir.resolve("empty.txt"), "");
        ObjectNode spec = TestStack.tinySpec(30, 10);
        source(spec).put("path", empty.toString());
        assertBadInput("e2e-empty", spec, "empty.txt");
    }

    @Test
    void malformedJsonlFailsAtOnceNamingFileAndLine() throws Exception {
        Path bad = Files.writeString(dir.resolve("bad.jsonl"), "{\"text\": \"fine\"}\n{\"text\": oops}\n");
        ObjectNode spec = TestStack.tinySpec(30, 10);
        source(spec).put("path", bad.toString());
        assertBadInput("e2e-bad-jsonl", spec, "bad.jsonl:2");
    }

    @Test
    void unknownStageIsRejectedBeforeAnythingRuns() {
        ObjectNode spec = TestStack.tinySpec(30, 10);
        ((ObjectNode) spec.get("stages")).putObject("distill");
        assertBadInput("e2e-bad-stage", spec, "stages.distill");
    }

    @Test
    void unreachableS3IsRetriedAndTheFailureNamesTheEndpoint() throws Exception {
        int closedPort;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        String endpoint = "http://127.0.0.1:" + closedPort;
        forge.storage.S3Settings unreachable = new forge.storage.S3Settings(endpoint, "us-east-1", true, "forge", "runs");
        try (forge.worker.WorkerProcess badWorker = forge.worker.WorkerProcess.start(stack.settings.withS3(unreachable),
                Role.GPU, java.util.List.of("forge-gpu-no-s3"))) {
            ObjectNode spec = TestStack.tinySpec(30, 10);
            TestStack.pretrain(spec).put("task_queue", "forge-gpu-no-s3");
            WorkflowStub run = stack.start("e2e-no-s3", spec);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            // The workflow retries the stage itself: status shows the attempt and the last failure.
            forge.workflow.StageStatus retried = null;
            while (System.nanoTime() < deadline) {
                var st = stack.pipeline("e2e-no-s3").status().stages().get("pretrain");
                if (st != null && st.attempt() >= 2 && st.lastFailure() != null) {
                    retried = st;
                    break;
                }
                Thread.sleep(200);
            }
            assertTrue(retried != null, "the stage should be retried while S3 is unreachable");
            String message = retried.lastFailure();
            assertTrue(message.contains(endpoint) && message.contains("unreachable"), message);
            assertFalse(message.contains("\n"), "one readable line: " + message);
            assertEquals(PipelineState.RUNNING, stack.pipeline("e2e-no-s3").status().state(), "a transient fault must not fail the run");
            run.terminate("test over");
        }
    }

    private static ObjectNode source(ObjectNode spec) {
        return (ObjectNode) TestStack.pretrain(spec).get("data").get("sources").get(0);
    }

    /** Bad input must fail the run quickly and once, with the field or file:line in the message — no retries. */
    private void assertBadInput(String runId, ObjectNode spec, String expected) {
        long t0 = System.nanoTime();
        WorkflowStub run = stack.start(runId, spec);
        WorkflowFailedException e = assertThrows(WorkflowFailedException.class,
                () -> run.getResult(60, TimeUnit.SECONDS, PipelineResult.class));
        ApplicationFailure failure = (ApplicationFailure) e.getCause();
        assertTrue(failure.getOriginalMessage().contains(expected),
                "message should name " + expected + ": " + failure.getOriginalMessage());
        assertTrue(failure.isNonRetryable());
        assertTrue((System.nanoTime() - t0) / 1e9 < 30, "bad input should fail fast, not be retried");
        String error = stack.pipeline(runId).status().error();
        assertTrue(error.contains(expected), "status error should name " + expected + ": " + error);
    }

    private long waitForStep(String runId, long atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            long step = Progress.heartbeatStep(stack.client, runId);
            if (step >= atLeast) {
                return step;
            }
            Thread.sleep(200);
        }
        throw new AssertionError(runId + " never reached step " + atLeast);
    }
}
