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
import java.util.ArrayList;
import java.util.List;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Durability proven by killing things: a GPU worker process is SIGKILLed mid-stage after a checkpoint in each of
 * pretraining, fine-tuning, reward modeling and PPO; new ones take over, and every stage's final weights and optimizer
 * state must be bit-identical to an uninterrupted run's.
 */
class WorkerKillRecoveryTest {
    private static final int PRETRAIN_STEPS = 300;
    private static final int SFT_STEPS = 300;
    private static final int CHECKPOINT_EVERY = 50;
    /** TestStack.tinyPipeline gives PPO a fifth of the steps, checkpointing every tenth iteration. */
    private static final int PPO_STEPS = SFT_STEPS / 5;

    /** Kept when the test fails: the worker logs in it say why. */
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    @Test
    void killedWorkersResumeToBitIdenticalWeights() throws Exception {
        try (TestStack stack = new TestStack(dir)) {
            stack.inProcessWorker(Role.CONTROL);
            var spec = TestStack.tinyPipeline(PRETRAIN_STEPS, SFT_STEPS, CHECKPOINT_EVERY);
            TestStack.pretrain(spec).put("cache", false); // both runs must really train
            spec.with("stages").with("sft").put("cache", false);
            spec.with("stages").with("reward").put("cache", false);
            spec.with("stages").with("ppo").put("cache", false);

            Process clean = stack.externalWorker(Role.GPU, dir.resolve("worker-clean.log"));
            PipelineResult uninterrupted = stack.start("kill-baseline", spec)
                    .getResult(5, TimeUnit.MINUTES, PipelineResult.class);
            assertEquals(PipelineState.COMPLETED, uninterrupted.state(), log(dir.resolve("worker-clean.log")));
            clean.destroy();
            clean.waitFor();

            WorkflowStub run = stack.start("kill-victim", spec);
            Process victim = stack.externalWorker(Role.GPU, dir.resolve("worker-victim.log"));
            killAfterCheckpoint(victim, store(stack, "kill-victim", "pretrain"), PRETRAIN_STEPS,
                    dir.resolve("worker-victim.log"));
            Process second = stack.externalWorker(Role.GPU, dir.resolve("worker-second.log"));
            killAfterCheckpoint(second, store(stack, "kill-victim", "sft"), SFT_STEPS, dir.resolve("worker-second.log"));
            Process third = stack.externalWorker(Role.GPU, dir.resolve("worker-third.log"));
            killAfterCheckpoint(third, store(stack, "kill-victim", "reward"), SFT_STEPS, dir.resolve("worker-third.log"));
            Process fourth = stack.externalWorker(Role.GPU, dir.resolve("worker-fourth.log"));
            killAfterCheckpoint(fourth, store(stack, "kill-victim", "ppo"), PPO_STEPS, dir.resolve("worker-fourth.log"));

            stack.externalWorker(Role.GPU, dir.resolve("worker-rescue.log"));
            PipelineResult recovered = run.getResult(5, TimeUnit.MINUTES, PipelineResult.class);
            assertEquals(PipelineState.COMPLETED, recovered.state(), log(dir.resolve("worker-rescue.log")));
            for (String stage : new String[] {"pretrain", "sft", "reward", "ppo"}) {
                assertTrue(recovered.stages().get(stage).metrics().get("resumes") >= 1,
                        stage + " must have resumed from a checkpoint, not started over");
                LoadedCheckpoint a = store(stack, "kill-baseline", stage).loadFinal().orElseThrow();
                LoadedCheckpoint b = store(stack, "kill-victim", stage).loadFinal().orElseThrow();
                assertEquals(sha256(a.file("model.safetensors")), sha256(b.file("model.safetensors")),
                        stage + " weights after kill -9 and resume must equal the uninterrupted run's");
                assertArrayEquals(a.file("optimizer.safetensors"), b.file("optimizer.safetensors"), stage);
                if (stage.equals("ppo")) {
                    assertArrayEquals(a.file("value_model.safetensors"), b.file("value_model.safetensors"), stage);
                }
                assertFalse(new ObjectMapper().readTree(b.file("state.json")).get("resumes").asInt() == 0);
            }
            assertEquals(uninterrupted.stages().get("sft").metrics().get("taskAccuracyAfter"),
                    recovered.stages().get("sft").metrics().get("taskAccuracyAfter"));
            assertEquals(uninterrupted.stages().get("reward").metrics().get("valPairAccuracy"),
                    recovered.stages().get("reward").metrics().get("valPairAccuracy"));
            for (String key : new String[] {"rewardPpo", "truthPpo", "klCoef", "klFinal"}) {
                assertEquals(uninterrupted.stages().get("ppo").metrics().get(key),
                        recovered.stages().get("ppo").metrics().get(key), "ppo " + key);
            }

            // The workers' log file is for machines: one JSON object per event, naming the run, stage and attempt.
            List<JsonNode> events = new ArrayList<>();
            for (String line : Files.readAllLines(dir.resolve("forge.log"))) {
                events.add(new ObjectMapper().readTree(line));
            }
            assertTrue(events.stream().anyMatch(e -> e.path("mdc").path("run").asText().equals("kill-victim")
                    && e.path("mdc").path("stage").asText().equals("reward")
                    && e.path("formattedMessage").asText().startsWith("resuming reward")), "a resume is logged");
        }
    }

    private static CheckpointStore store(TestStack stack, String run, String stage) {
        return new CheckpointStore(stack.storage, stack.s3.stageRoot(run, stage), 2);
    }

    /** SIGKILL: no shutdown hook, no last heartbeat, no final checkpoint. */
    static void killAfterCheckpoint(Process worker, CheckpointStore store, int steps, Path log)
            throws Exception {
        long committed = waitForCheckpoint(store, worker, log);
        worker.destroyForcibly();
        assertTrue(worker.waitFor(30, TimeUnit.SECONDS));
        assertEquals(137, worker.exitValue(), "the worker must die by SIGKILL");
        assertTrue(committed < steps, "killed mid-stage");
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

    static String log(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "(no log)";
        } catch (Exception e) {
            return "(unreadable log: " + e + ")";
        }
    }
}
