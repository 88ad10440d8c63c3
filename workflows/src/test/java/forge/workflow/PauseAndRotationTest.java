package forge.workflow;

import io.temporal.activity.ActivityExecutionContext;
import io.temporal.client.ActivityCompletionException;
import io.temporal.client.WorkflowFailedException;
import io.temporal.failure.CanceledFailure;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A pause never fails a run, whatever ends the stopped attempt; and continue-as-new is invisible to the user: the same
 * run id answers status, pause, resume and cancel before, during and after it.
 */
class PauseAndRotationTest {
    private final ScriptedStage stage = new ScriptedStage();
    private final PipelineEnv env = new PipelineEnv(stage);

    @AfterEach
    void close() {
        env.close();
    }

    private static final String SPEC = "{\"stages\": {\"pretrain\": {\"heartbeat_timeout_seconds\": 1}}}";

    /** Heartbeats (and reports progress every {@code signalEvery} beats, 0 for never) until the workflow stops it. */
    private void trainUntilStopped(String id, ActivityExecutionContext ctx, int signalEvery) throws Exception {
        for (long step = 1; ; step++) {
            StageProgress p = new StageProgress("pretrain", step, 1000, 2.0, "s3://b/pretrain/step-" + step, Map.of());
            ctx.heartbeat(p);
            if (signalEvery > 0 && step % signalEvery == 0) {
                env.stub(id).signal("stageProgress", p);
            }
            Thread.sleep(10);
        }
    }

    @Test
    void aFailureWhileStoppingForAPauseLeavesTheRunPaused() throws Exception {
        stage.scripts.put("pretrain", (in, ctx) -> {
            if (in.attempt() == 1) {
                try {
                    trainUntilStopped("pause-fails", ctx, 0);
                } catch (ActivityCompletionException stop) {
                    throw new IllegalStateException("stop checkpoint upload failed: 503 Slow Down");
                }
            }
            return ScriptedStage.done("pretrain", 1000);
        });
        env.start("pause-fails", PipelineEnv.json(SPEC));
        TrainingPipeline p = env.pipeline("pause-fails");
        PipelineEnv.waitUntil(() -> stage.attempts("pretrain") == 1);
        p.pause();
        PipelineEnv.waitUntil(() -> p.status().state() == PipelineState.PAUSED);
        StageStatus s = p.status().stages().get("pretrain");
        assertEquals(PipelineState.PAUSED, s.state());
        assertTrue(s.lastFailure().contains("503 Slow Down"), "status says what went wrong: " + s.lastFailure());
        assertNull(p.status().error(), "a paused run has no error");

        p.resume();
        PipelineResult r = env.result("pause-fails");
        assertEquals(PipelineState.COMPLETED, r.state());
        assertEquals(2, stage.attempts("pretrain"));
    }

    @Test
    void statusPauseResumeAndCancelWorkAcrossContinueAsNewEvenWithAPauseDuringTheRotation() throws Exception {
        String id = "rotating";
        stage.scripts.put("pretrain", (in, ctx) -> {
            try {
                trainUntilStopped(id, ctx, 1); // a signal per beat: the 100-event limit is soon reached
            } catch (ActivityCompletionException stop) {
                if (in.attempt() == 1) {
                    // The workflow stops this attempt to rotate its history; the user pauses at that very moment.
                    env.stub(id).signal("pause");
                }
                throw stop;
            }
            return null;
        });
        env.start(id, PipelineEnv.json(
                "{\"history_limit_events\": 100, \"stages\": {\"pretrain\": {\"heartbeat_timeout_seconds\": 5}}}"));
        TrainingPipeline p = env.pipeline(id);
        PipelineEnv.waitUntil(() -> p.status().workflowRuns() >= 2 && p.status().state() == PipelineState.PAUSED);
        assertEquals(1, stage.attempts("pretrain"), "paused in the rotation: no attempt starts");
        long pausedAtStep = p.status().stages().get("pretrain").step();
        assertTrue(pausedAtStep > 0, "the progress of the first run is carried");

        p.resume();
        PipelineEnv.waitUntil(() -> stage.attempts("pretrain") >= 2
                && p.status().stages().get("pretrain").step() > 0 && p.status().state() == PipelineState.RUNNING);
        assertEquals(2, p.status().stages().get("pretrain").attempt(), "attempts are counted across runs");

        env.stub(id).cancel();
        WorkflowFailedException e = assertThrows(WorkflowFailedException.class, () -> env.result(id));
        assertInstanceOf(CanceledFailure.class, e.getCause());
        assertEquals(PipelineState.CANCELLED, p.status().state());

        assertTrue(p.status().workflowRuns() >= 2, "continued as new: " + p.status());
    }
}
