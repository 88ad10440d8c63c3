package forge.workflow;

import io.temporal.client.WorkflowFailedException;
import io.temporal.failure.ApplicationFailure;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The workflow's own retry loop: each attempt is one activity execution, so it counts attempts, shows the last failure
 * and the next attempt, stops after the same error, and keeps retrying infrastructure failures.
 */
class StageRetryTest {
    private final ScriptedStage stage = new ScriptedStage();
    private final PipelineEnv env = new PipelineEnv(stage);

    @AfterEach
    void close() {
        env.close();
    }

    private static String spec(String retry) {
        return "{\"stages\": {\"pretrain\": {\"heartbeat_timeout_seconds\": 1, \"retry\": " + retry + "}}}";
    }

    @Test
    void theSameErrorInARowFailsTheStageWithThatError() throws Exception {
        stage.scripts.put("pretrain", (in, ctx) -> {
            throw new IllegalStateException("CUDA error: an illegal memory access was encountered");
        });
        env.start("same-error", PipelineEnv.json(spec("{\"initial_interval_seconds\": 5, \"max_same_error\": 3}")));
        WorkflowFailedException e = assertThrows(WorkflowFailedException.class, () -> env.result("same-error"));
        String message = ((ApplicationFailure) e.getCause()).getOriginalMessage();
        assertTrue(message.contains("illegal memory access") && message.contains("3 attempts in a row"), message);
        assertEquals(3, stage.attempts("pretrain"));
        PipelineStatus status = env.pipeline("same-error").status();
        assertEquals(PipelineState.FAILED, status.state());
        StageStatus s = status.stages().get("pretrain");
        assertEquals(PipelineState.FAILED, s.state());
        assertEquals(3, s.attempt());
        assertTrue(s.lastFailure().contains("IllegalStateException: CUDA error"), s.lastFailure());
        assertNull(s.nextAttemptAt(), "a failed stage has no next attempt");
        assertEquals(List.of(1, 2, 3), stage.inputs.stream().map(StageInput::attempt).toList());
    }

    @Test
    void infrastructureFailuresKeepRetryingPastMaxSameError() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        stage.scripts.put("pretrain", (in, ctx) -> {
            if (calls.incrementAndGet() <= 6) {
                throw ApplicationFailure.newFailure("S3 endpoint http://s3.local unreachable: Connection refused",
                        TrainingPipelineImpl.STORAGE_UNAVAILABLE);
            }
            return ScriptedStage.done("pretrain", 10);
        });
        env.start("infra", PipelineEnv.json(spec("{\"initial_interval_seconds\": 10, \"max_interval_seconds\": 60, "
                + "\"max_same_error\": 2}")));
        assertEquals(PipelineState.COMPLETED, env.result("infra").state());
        StageStatus s = env.pipeline("infra").status().stages().get("pretrain");
        assertEquals(7, s.attempt());
        assertTrue(s.lastFailure().contains("unreachable"), s.lastFailure());
    }

    @Test
    void anAttemptThatCommittedACheckpointStartsTheCountAgain() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        stage.scripts.put("pretrain", (in, ctx) -> {
            int n = calls.incrementAndGet();
            if (n <= 4) {
                // Each attempt gets further (a new checkpoint) before the same flaky error.
                env.client.newUntypedWorkflowStub("progressing").signal("stageProgress",
                        new StageProgress("pretrain", 100L * n, 1000, 2.0, "s3://b/pretrain/step-" + n, Map.of()));
                throw new IllegalStateException("NCCL timeout");
            }
            return ScriptedStage.done("pretrain", 1000);
        });
        env.start("progressing", PipelineEnv.json(spec("{\"initial_interval_seconds\": 5, \"max_same_error\": 2}")));
        assertEquals(PipelineState.COMPLETED, env.result("progressing").state());
        assertEquals(5, stage.attempts("pretrain"));
    }

    @Test
    void statusShowsTheAttemptTheLastFailureAndWhenTheNextStarts() throws Exception {
        stage.scripts.put("pretrain", (in, ctx) -> {
            throw new IllegalStateException("disk full");
        });
        env.start("waiting", PipelineEnv.json(spec("{\"initial_interval_seconds\": 3600, \"max_interval_seconds\": 3600}")));
        TrainingPipeline p = env.pipeline("waiting");
        // Not waiting for the result: time stands still, so the run sits in its backoff.
        PipelineEnv.waitUntil(() -> p.status().stages().get("pretrain").nextAttemptAt() != null);
        StageStatus s = p.status().stages().get("pretrain");
        assertEquals(PipelineState.RUNNING, p.status().state(), "waiting to retry is still running");
        assertEquals(1, s.attempt());
        assertTrue(s.lastFailure().contains("disk full"), s.lastFailure());
        long next = java.time.Instant.parse(s.nextAttemptAt()).toEpochMilli();
        long inAnHour = env.env.currentTimeMillis() + 3_600_000;
        assertTrue(Math.abs(next - inAnHour) < 60_000, "next attempt in an hour: " + s.nextAttemptAt());
        env.stub("waiting").cancel();
        assertThrows(Exception.class, () -> env.result("waiting"));
        assertEquals(PipelineState.CANCELLED, p.status().state());
    }

    @Test
    void aLostWorkerIsRetriedAndTheNextAttemptLearnsHowFarItGot() throws Exception {
        CountDownLatch released = new CountDownLatch(1);
        stage.scripts.put("pretrain", (in, ctx) -> {
            if (in.attempt() == 1) {
                ctx.heartbeat(new StageProgress("pretrain", 420, 1000, 2.0, "s3://b/pretrain/step-400", Map.of()));
                released.await(30, TimeUnit.SECONDS); // a partitioned pod: alive, silent
                return ScriptedStage.done("pretrain", -1);
            }
            return ScriptedStage.done("pretrain", 1000);
        });
        try {
            env.start("lost", PipelineEnv.json(spec("{\"initial_interval_seconds\": 1}")));
            PipelineResult r = env.result("lost");
            assertEquals(PipelineState.COMPLETED, r.state());
            assertEquals(1000, r.stages().get("pretrain").steps(), "the replaced attempt's late result is ignored");
        } finally {
            released.countDown();
        }
        assertEquals(2, stage.attempts("pretrain"));
        assertEquals(420L, stage.inputs.get(1).previousAttemptStep());
        StageStatus s = env.pipeline("lost").status().stages().get("pretrain");
        assertTrue(s.lastFailure().contains("lost the worker") && s.lastFailure().contains("420"), s.lastFailure());
    }

    @Test
    void badInputFailsAtOnce() throws Exception {
        stage.scripts.put("pretrain", (in, ctx) -> {
            throw ApplicationFailure.newNonRetryableFailure("stage pretrain: train.learning_rate: must be > 0",
                    TrainingPipelineImpl.BAD_INPUT);
        });
        env.start("bad", PipelineEnv.json(spec("{}")));
        WorkflowFailedException e = assertThrows(WorkflowFailedException.class, () -> env.result("bad"));
        assertTrue(((ApplicationFailure) e.getCause()).isNonRetryable());
        assertEquals(1, stage.attempts("pretrain"));
    }

    @Test
    void retryKeysAreCheckedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(
                PipelineEnv.json(spec("{\"max_same_eror\": 3}"))));
        assertTrue(e.getMessage().startsWith("stages.pretrain.retry.max_same_eror: unknown key"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(
                PipelineEnv.json(spec("{\"initial_interval_seconds\": 60, \"max_interval_seconds\": 10}"))));
        assertTrue(e.getMessage().startsWith("stages.pretrain.retry.max_interval_seconds"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(PipelineEnv.json(
                "{\"stages\": {\"pretrain\": {\"heartbeat_timeout_seconds\": 7200, \"start_to_close_hours\": 1}}}")));
        assertTrue(e.getMessage().startsWith("stages.pretrain.start_to_close_hours"), e.getMessage());
        StageRetry r = StageRetry.parse(PipelineEnv.json("{\"initial_interval_seconds\": 10, "
                + "\"max_interval_seconds\": 60}"), "retry");
        assertEquals(List.of(10L, 20L, 40L, 60L, 60L), List.of(1, 2, 3, 4, 5).stream()
                .map(n -> r.backoff(n).toSeconds()).toList());
        assertNotNull(PipelineSpec.parse(PipelineEnv.json("{\"stages\": {\"pretrain\": {\"start_to_close_hours\": 0.5}}}")));
    }
}
