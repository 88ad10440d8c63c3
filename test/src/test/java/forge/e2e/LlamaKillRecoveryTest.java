package forge.e2e;

import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.storage.S3Uri;
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
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link WorkerKillRecoveryTest}'s guarantee for a Hugging Face parent: SFT of the transformers-written Llama fixture
 * (RMSNorm, RoPE, grouped-query attention, untied head, its own BPE tokenizer and ChatML template), read from an
 * {@code s3://} prefix as a user's published checkpoint would be, is SIGKILLed after a checkpoint; a new worker
 * resumes, and final/ is bit-identical to an uninterrupted run's.
 */
class LlamaKillRecoveryTest {
    private static final int STEPS = 100;
    private static final int CHECKPOINT_EVERY = 20;
    /** The fixture lives with the activities module's tests (hf-fixtures/README.md says what it is). */
    private static final Path FIXTURE = Path.of("..", "activities", "src", "test", "resources", "hf-fixtures", "llama");

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    @Test
    void aKilledLlamaFineTuneResumesToBitIdenticalWeights() throws Exception {
        try (TestStack stack = new TestStack(dir)) {
            stack.inProcessWorker(Role.CONTROL);
            String model = "s3://" + stack.s3.bucket() + "/models/llama";
            try (Stream<Path> files = Files.list(FIXTURE)) {
                for (Path f : files.toList()) {
                    stack.storage.put(S3Uri.parse(model + "/" + f.getFileName()), Files.readAllBytes(f));
                }
            }
            ObjectNode spec = (ObjectNode) TestStack.YAML.readTree("""
                    name: llama-sft
                    stages:
                      sft:
                        heartbeat_timeout_seconds: 5
                        retry: {initial_interval_seconds: 1, max_interval_seconds: 10}
                        cache: false
                        seed: 43
                        init_from: {hf: "%s"}
                        data: {sources: [{path: "demo:sft?seed=3&count=200"}]}
                        train: {max_steps: %d, batch_size: 4, grad_accum_steps: 2, warmup_steps: 5}
                        eval: {interval: 1000, batches: 1}
                        task_eval: {count: 0}
                        checkpoint: {interval_steps: %d, interval_seconds: 3600, keep_last: 2}
                        sample: {count: 1, max_new_tokens: 8}
                    """.formatted(model, STEPS, CHECKPOINT_EVERY));

            Process clean = stack.externalWorker(Role.GPU, dir.resolve("worker-clean.log"));
            PipelineResult uninterrupted = stack.start("llama-baseline", spec)
                    .getResult(3, TimeUnit.MINUTES, PipelineResult.class);
            assertEquals(PipelineState.COMPLETED, uninterrupted.state(), log(dir.resolve("worker-clean.log")));
            clean.destroy();
            clean.waitFor();

            WorkflowStub run = stack.start("llama-victim", spec);
            Process victim = stack.externalWorker(Role.GPU, dir.resolve("worker-victim.log"));
            WorkerKillRecoveryTest.killAfterCheckpoint(victim, store(stack, "llama-victim"), STEPS,
                    dir.resolve("worker-victim.log"));

            stack.externalWorker(Role.GPU, dir.resolve("worker-rescue.log"));
            PipelineResult recovered = run.getResult(3, TimeUnit.MINUTES, PipelineResult.class);
            assertEquals(PipelineState.COMPLETED, recovered.state(), log(dir.resolve("worker-rescue.log")));
            assertTrue(recovered.stages().get("sft").metrics().get("resumes") >= 1,
                    "sft must have resumed from a checkpoint, not started over");
            LoadedCheckpoint a = store(stack, "llama-baseline").loadFinal().orElseThrow();
            LoadedCheckpoint b = store(stack, "llama-victim").loadFinal().orElseThrow();
            assertArrayEquals(a.file("model.safetensors"), b.file("model.safetensors"),
                    "Llama weights after kill -9 and resume must equal the uninterrupted run's");
            assertArrayEquals(a.file("optimizer.safetensors"), b.file("optimizer.safetensors"));
            assertArrayEquals(a.file("config.json"), b.file("config.json"));
            assertEquals(uninterrupted.stages().get("sft").metrics().get("valLossEnd"),
                    recovered.stages().get("sft").metrics().get("valLossEnd"));
            assertEquals(uninterrupted.stages().get("sft").samples(), recovered.stages().get("sft").samples());
        }
    }

    private static CheckpointStore store(TestStack stack, String run) {
        return new CheckpointStore(stack.storage, stack.s3.stageRoot(run, "sft"), 2);
    }

    private static String log(Path p) {
        return WorkerKillRecoveryTest.log(p);
    }
}
