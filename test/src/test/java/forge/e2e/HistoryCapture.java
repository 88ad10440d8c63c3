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

            stack.start("completed", TestStack.tinySpec(120, 60)).getResult(3, TimeUnit.MINUTES, PipelineResult.class);
            save(stack, out, "completed");

            stack.start("three-stages", TestStack.tinyPipeline(60, 30, 30))
                    .getResult(3, TimeUnit.MINUTES, PipelineResult.class);
            save(stack, out, "three-stages");

            WorkflowStub paused = stack.start("paused-resumed", TestStack.tinySpec(3000, 1000));
            waitFor(() -> Progress.heartbeatStep(stack.client, "paused-resumed") >= 20);
            stack.pipeline("paused-resumed").pause();
            waitFor(() -> stack.pipeline("paused-resumed").status().state() == PipelineState.PAUSED);
            stack.pipeline("paused-resumed").resume();
            paused.getResult(5, TimeUnit.MINUTES, PipelineResult.class);
            save(stack, out, "paused-resumed");

            WorkflowStub cancelled = stack.start("cancelled", TestStack.tinySpec(100_000, 100_000));
            waitFor(() -> Progress.heartbeatStep(stack.client, "cancelled") >= 20);
            cancelled.cancel();
            waitFor(() -> stack.pipeline("cancelled").status().state() == PipelineState.CANCELLED);
            Thread.sleep(2000);
            save(stack, out, "cancelled");

            var bad = TestStack.tinySpec(30, 10);
            ((com.fasterxml.jackson.databind.node.ObjectNode) TestStack.pretrain(bad).get("model")).put("n_embd", 33);
            try {
                stack.start("bad-config", bad).getResult(1, TimeUnit.MINUTES, PipelineResult.class);
            } catch (Exception expected) {
                // the failed run is the history we want
            }
            save(stack, out, "bad-config");
        }
    }

    /**
     * A history is captured once, from the release that introduced its shape, and never overwritten: replaying it
     * against later code is the point.
     */
    private static void save(TestStack stack, Path out, String id) throws Exception {
        Path file = out.resolve(id + ".json");
        if (Files.exists(file)) {
            return;
        }
        Files.writeString(file, stack.client.fetchHistory(id).toJson(true));
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
