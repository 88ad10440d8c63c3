package forge.workflow;

import io.temporal.api.common.v1.WorkflowExecution;
import io.temporal.client.ActivityCompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Captures histories of the workflow shape behind {@link TrainingPipelineImpl#DURABLE_CHANGE} (checks before the first
 * stage, attempts retried by the workflow, continue-as-new) for {@link HistoryReplayTest}, from Temporal's test
 * server with scripted stages: replay needs only the workflow's commands, and the test server records them as the
 * real one does. The shape before it is covered by the histories HistoryCapture took from real runs. Not part of the
 * normal run; an existing file is never overwritten:
 * {@code mvn -B verify -pl workflows -Dtest=DurableHistoryCapture -Dsurefire.failIfNoSpecifiedTests=false
 * -Dforge.captureHistories=$PWD/workflows/src/test/resources/histories}
 */
@EnabledIfSystemProperty(named = "forge.captureHistories", matches = ".+")
class DurableHistoryCapture {
    @Test
    void capture() throws Exception {
        Path out = Path.of(System.getProperty("forge.captureHistories"));
        Files.createDirectories(out);
        ScriptedStage stage = new ScriptedStage();
        try (PipelineEnv env = new PipelineEnv(stage)) {
            env.control.searchAttributes = java.util.List.of();
            if (missing(out, "durable-retried")) {
                stage.scripts.put("pretrain", (in, ctx) -> {
                    if (in.attempt() < 3) {
                        throw new IllegalStateException("NCCL timeout");
                    }
                    return ScriptedStage.done("pretrain", 100);
                });
                env.start("durable-retried", PipelineEnv.json("{\"stages\": {\"pretrain\": {\"retry\": "
                        + "{\"initial_interval_seconds\": 5}}, \"sft\": {}}}"));
                env.result("durable-retried");
                save(env, out, "durable-retried", null);
            }
            if (missing(out, "durable-paused-resumed")) {
                stage.scripts.put("pretrain", (in, ctx) -> {
                    if (in.attempt() == 1) {
                        try {
                            for (long step = 1; ; step++) {
                                ctx.heartbeat(new StageProgress("pretrain", step, 100, 2.0, null, Map.of()));
                                Thread.sleep(10);
                            }
                        } catch (ActivityCompletionException stop) {
                            throw stop;
                        }
                    }
                    return ScriptedStage.done("pretrain", 100);
                });
                env.start("durable-paused-resumed", PipelineEnv.json(
                        "{\"stages\": {\"pretrain\": {\"heartbeat_timeout_seconds\": 1}}}"));
                TrainingPipeline p = env.pipeline("durable-paused-resumed");
                PipelineEnv.waitUntil(() -> stage.attempts("pretrain") == 1);
                p.pause();
                PipelineEnv.waitUntil(() -> p.status().state() == PipelineState.PAUSED);
                p.resume();
                env.result("durable-paused-resumed");
                save(env, out, "durable-paused-resumed", null);
            }
            if (missing(out, "durable-continued-as-new")) {
                stage.scripts.put("pretrain", (in, ctx) -> {
                    if (in.attempt() == 1) {
                        try {
                            for (long step = 1; ; step++) {
                                StageProgress sp = new StageProgress("pretrain", step, 100, 2.0,
                                        "s3://b/pretrain/step-" + step, Map.of());
                                ctx.heartbeat(sp);
                                env.stub("durable-continued-as-new").signal("stageProgress", sp);
                                Thread.sleep(10);
                            }
                        } catch (ActivityCompletionException stop) {
                            throw stop;
                        }
                    }
                    return ScriptedStage.done("pretrain", 100);
                });
                WorkflowExecution first = env.start("durable-continued-as-new", PipelineEnv.json(
                        "{\"history_limit_events\": 100, \"stages\": {\"pretrain\": {\"heartbeat_timeout_seconds\": 5}}}"));
                env.result("durable-continued-as-new");
                save(env, out, "durable-continued-as-new", first.getRunId());
                // The run it continued as: it starts from the carried state.
                Files.writeString(out.resolve("durable-continued-run.json"),
                        env.client.fetchHistory("durable-continued-as-new").toJson(true));
            }
            if (missing(out, "durable-bad-spec")) {
                env.control.stageCheck = in -> "train.lr: unknown key";
                env.start("durable-bad-spec", PipelineEnv.json("{\"stages\": {\"pretrain\": {}}}"));
                try {
                    env.result("durable-bad-spec");
                } catch (Exception expected) {
                    // the failed run is the history we want
                }
                save(env, out, "durable-bad-spec", null);
            }
        }
    }

    /** @param runId the run to save (the first of a continued pipeline); null for the latest */
    private static void save(PipelineEnv env, Path out, String id, String runId) throws Exception {
        var h = runId == null ? env.client.fetchHistory(id) : env.client.fetchHistory(id, runId);
        Files.writeString(out.resolve(id + ".json"), h.toJson(true));
    }

    private static boolean missing(Path out, String id) {
        return !Files.exists(out.resolve(id + ".json"));
    }
}
