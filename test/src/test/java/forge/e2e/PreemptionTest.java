package forge.e2e;

import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.worker.Role;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineState;
import io.temporal.client.WorkflowStub;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A preempted pod gets SIGTERM: its worker stops taking work, the running stage writes a checkpoint where it is
 * (not at the last scheduled one), and the stage continues from there on another worker.
 */
class PreemptionTest {
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    @Test
    void sigtermCheckpointsTheRunningStageAndAnotherWorkerContinues() throws Exception {
        try (TestStack stack = new TestStack(dir)) {
            stack.inProcessWorker(Role.CONTROL);
            Path log = dir.resolve("worker-preempted.log");
            Process preempted = stack.externalWorker(Role.GPU, log);
            // No scheduled checkpoint before the end: any step checkpoint can only come from the preemption.
            WorkflowStub run = stack.start("preempted", TestStack.tinySpec(1500, 100_000));
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
            while (Progress.heartbeatStep(stack.client, "preempted") < 50) {
                assertTrue(System.nanoTime() < deadline, "stage never got going: " + read(log));
                Thread.sleep(100);
            }
            preempted.destroy(); // SIGTERM, as Kubernetes sends before it kills a pod
            assertTrue(preempted.waitFor(60, TimeUnit.SECONDS), "worker did not exit within its grace period");

            CheckpointStore store = new CheckpointStore(stack.storage, stack.s3.stageRoot("preempted", "pretrain"), 2);
            LoadedCheckpoint c = store.latest().orElseThrow(() -> new AssertionError("no checkpoint on SIGTERM: " + read(log)));
            assertTrue(c.step() >= 50 && c.step() < 1500, "checkpoint at the step the worker was stopped: " + c.step());

            stack.externalWorker(Role.GPU, dir.resolve("worker-next.log"));
            PipelineResult result = run.getResult(5, TimeUnit.MINUTES, PipelineResult.class);
            assertEquals(PipelineState.COMPLETED, result.state());
            assertTrue(result.stages().get("pretrain").metrics().get("resumes") >= 1, "continued from the checkpoint");
        }
    }

    private static String read(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "(no log)";
        } catch (Exception e) {
            return e.toString();
        }
    }
}
