package forge.e2e;

import forge.worker.Role;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineState;
import io.temporal.client.WorkflowStub;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Captures workflow histories from real runs for the replay tests in the workflows module. Not part of the normal
 * run; when the workflow's shape changes on purpose, capture the new shape next to the old ones:
 * {@code mvn -B verify -pl test -am -Dtest=HistoryCapture -Dsurefire.failIfNoSpecifiedTests=false
 * -Dforge.captureHistories=$PWD/workflows/src/test/resources/histories}
 */
@EnabledIfSystemProperty(named = "forge.captureHistories", matches = ".+")
class HistoryCapture {
    @TempDir
    Path dir;

    @Test
    void capture() throws Exception {
        Path out = Path.of(System.getProperty("forge.captureHistories"));
        Files.createDirectories(out);
        try (TestStack stack = new TestStack(dir)) {
            stack.inProcessWorker(Role.ALL);

            if (missing(out, "completed")) {
                stack.start("completed", TestStack.tinySpec(120, 60)).getResult(3, TimeUnit.MINUTES, PipelineResult.class);
                save(stack, out, "completed");
            }

            if (missing(out, "three-stages")) {
                var three = TestStack.tinyPipeline(60, 30, 30);
                ((com.fasterxml.jackson.databind.node.ObjectNode) three.get("stages")).remove("ppo");
                stack.start("three-stages", three).getResult(3, TimeUnit.MINUTES, PipelineResult.class);
                save(stack, out, "three-stages");
            }

            if (missing(out, "four-stages")) {
                stack.start("four-stages", TestStack.tinyPipeline(60, 30, 30))
                        .getResult(3, TimeUnit.MINUTES, PipelineResult.class);
                save(stack, out, "four-stages");
            }

            if (missing(out, "paused-resumed")) {
                WorkflowStub paused = stack.start("paused-resumed", TestStack.tinySpec(3000, 1000));
                waitFor(() -> Progress.heartbeatStep(stack.client, "paused-resumed") >= 20);
                stack.pipeline("paused-resumed").pause();
                waitFor(() -> stack.pipeline("paused-resumed").status().state() == PipelineState.PAUSED);
                stack.pipeline("paused-resumed").resume();
                paused.getResult(5, TimeUnit.MINUTES, PipelineResult.class);
                save(stack, out, "paused-resumed");
            }

            if (missing(out, "cancelled")) {
                WorkflowStub cancelled = stack.start("cancelled", TestStack.tinySpec(100_000, 100_000));
                waitFor(() -> Progress.heartbeatStep(stack.client, "cancelled") >= 20);
                cancelled.cancel();
                waitFor(() -> stack.pipeline("cancelled").status().state() == PipelineState.CANCELLED);
                Thread.sleep(2000);
                save(stack, out, "cancelled");
            }

                // the failed run is the history we want
            if (missing(out, "bad-config")) {
                var bad = TestStack.tinySpec(30, 10);
                ((com.fasterxml.jackson.databind.node.ObjectNode) TestStack.pretrain(bad).get("model")).put("n_embd", 33);
                try {
                    stack.start("bad-config", bad).getResult(1, TimeUnit.MINUTES, PipelineResult.class);
                } catch (Exception expected) {
                }
                save(stack, out, "bad-config");
            }

            // A stage attempt that dies with its worker (kill -9) and is retried on another, from its checkpoint.
            if (missing(out, "retried")) {
                var retrySpec = TestStack.tinySpec(600, 50);
                TestStack.pretrain(retrySpec).put("task_queue", "forge-gpu-retry").put("cache", false);
                Path log = dir.resolve("retry-workers.log");
                Process victim = stack.externalWorker(Role.GPU, log, "--queue", "forge-gpu-retry");
                WorkflowStub retried = stack.start("retried", retrySpec);
                var store = new forge.checkpoint.CheckpointStore(stack.storage, stack.s3.stageRoot("retried", "pretrain"), 2);
                waitFor(() -> store.latest().isPresent());
                victim.destroyForcibly();
                victim.waitFor();
                stack.externalWorker(Role.GPU, log, "--queue", "forge-gpu-retry");
                retried.getResult(5, TimeUnit.MINUTES, PipelineResult.class);
                save(stack, out, "retried");
            }
        }
    }

    /** A history is captured once, from the release that introduced its shape: replaying it against later code is the point. */
    private static void save(TestStack stack, Path out, String id) throws Exception {
        Files.writeString(out.resolve(id + ".json"), stack.client.fetchHistory(id).toJson(true));
    }

    /** Only shapes without a committed history are run: an existing one is never overwritten. */
    private static boolean missing(Path out, String id) {
        return !Files.exists(out.resolve(id + ".json"));
    }

    private static void waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out");
            }
            Thread.sleep(100);
        }
    }
}
