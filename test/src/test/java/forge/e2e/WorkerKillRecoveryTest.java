package forge.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Durability proven by killing things: a GPU worker process is SIGKILLed mid-stage after a checkpoint, a new one
 * takes over, and the final weights and optimizer state must be bit-identical to an uninterrupted run.
 */
class WorkerKillRecoveryTest {
    private static final int STEPS = 600;
    private static final int CHECKPOINT_EVERY = 50;

    /** Kept when the test fails: the worker logs in it say why. */
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    @Test
    void killedWorkerResumesToBitIdenticalWeights() throws Exception {
        try (TestStack stack = new TestStack(dir)) {
            stack.inProcessWorker(Role.CONTROL);
            var spec = TestStack.tinySpec(STEPS, CHECKPOINT_EVERY);
            TestStack.pretrain(spec).put("cache", false); // both runs must really train

            Process clean = stack.externalWorker(Role.GPU, dir.resolve("worker-clean.log"));
            PipelineResult uninterrupted = stack.start("kill-baseline", spec)
                    .getResult(5, TimeUnit.MINUTES, PipelineResult.class);
            assertEquals(PipelineState.COMPLETED, uninterrupted.state(), log(dir.resolve("worker-clean.log")));
            clean.destroy();
            clean.waitFor();

            Process victim = stack.externalWorker(Role.GPU, dir.resolve("worker-victim.log"));
            WorkflowStub run = stack.start("kill-victim", spec);
            CheckpointStore store = new CheckpointStore(stack.storage, stack.s3.stageRoot("kill-victim", "pretrain"), 2);
            long committed = waitForCheckpoint(store, victim, dir.resolve("worker-victim.log"));
            victim.destroyForcibly(); // SIGKILL: no shutdown hook, no last heartbeat, no final checkpoint
            assertTrue(victim.waitFor(30, TimeUnit.SECONDS));
            assertEquals(137, victim.exitValue(), "the worker must die by SIGKILL");
            assertTrue(committed < STEPS, "killed mid-stage");

            stack.externalWorker(Role.GPU, dir.resolve("worker-rescue.log"));
            PipelineResult recovered = run.getResult(5, TimeUnit.MINUTES, PipelineResult.class);
            assertEquals(PipelineState.COMPLETED, recovered.state(), log(dir.resolve("worker-rescue.log")));
            assertTrue(recovered.stages().get("pretrain").metrics().get("resumes") >= 1,
                    "the rescued stage must have resumed from a checkpoint, not started over");

            LoadedCheckpoint a = new CheckpointStore(stack.storage, stack.s3.stageRoot("kill-baseline", "pretrain"), 2)
                    .loadFinal().orElseThrow();
            LoadedCheckpoint b = store.loadFinal().orElseThrow();
            assertEquals(sha256(a.file("model.safetensors")), sha256(b.file("model.safetensors")),
                    "weights after kill -9 and resume must equal the uninterrupted run's");
            assertArrayEquals(a.file("optimizer.safetensors"), b.file("optimizer.safetensors"));
            assertFalse(new ObjectMapper().readTree(b.file("state.json")).get("resumes").asInt() == 0);
        }
    }

    /** Waits until the victim has committed a step checkpoint (its manifest verifies) and is still training. */
    private static long waitForCheckpoint(CheckpointStore store, Process victim, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (System.nanoTime() < deadline) {
            assertTrue(victim.isAlive(), "worker died on its own: " + log(log));
            var latest = store.latest();
            if (latest.isPresent()) {
                return latest.get().step();
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no checkpoint within 3 minutes: " + log(log));
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    private static String log(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "(no log)";
        } catch (Exception e) {
            return "(unreadable log: " + e + ")";
        }
    }
}
