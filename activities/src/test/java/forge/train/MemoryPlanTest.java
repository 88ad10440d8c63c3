package forge.train;

import forge.errors.BadInputException;
import forge.model.GptConfig;
import forge.model.LoraConfig;
import forge.model.Precision;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemoryPlanTest {
    private static final GptConfig GPT2_124M = new GptConfig(50257, 1024, 12, 12, 768, 0.0, true);
    private static final long GIB = 1L << 30;

    @Test
    void gpt2SmallInFp32CountsSixteenBytesPerParameterPlusActivations() {
        long p = GPT2_124M.parameterCount();
        assertEquals(124_439_808L, p);
        MemoryPlan plan = MemoryPlan.of(MemoryPlan.Inputs.full("pretrain", "cpu", GPT2_124M, 8, 1024,
                Precision.FP32));
        assertEquals(4 * p, plan.bytes("weights"));
        assertEquals(4 * p, plan.bytes("grads"));
        assertEquals(8 * p, plan.bytes("moments"));
        assertEquals(4 * p + 8 * p + (88L << 20), plan.bytes("checkpoint buffers"));
        // Per token: 12 blocks + one in backward of (17·768 + 12) floats with the fused kernels (attention keeps its
        // output and a log-sum-exp per head, GELU its input), and the head's 4·V floats + 2·768.
        long head = 4L * 50257 * 4 + 2 * 768 * 4;
        assertEquals(8 * 1024 * (13L * (17 * 768 + 12) * 4 + head), plan.bytes("activations"));
        // DJL's ops alone keep the (T, T) attention weights of every head and GELU's four intermediates.
        assertEquals(8 * 1024 * (13L * (24 * 768 + 12 * 1024) * 4 + head),
                MemoryPlan.activationBytes(GPT2_124M, 8, 1024, Precision.FP32, false, false));
        assertEquals(plan.total(), plan.deviceBytes());
    }

    @Test
    void bf16KeepsFp32MastersAndHalvesTheBlocksActivations() {
        MemoryPlan fp32 = MemoryPlan.of(MemoryPlan.Inputs.full("sft", "cuda:0", GPT2_124M, 8, 1024,
                Precision.FP32));
        MemoryPlan bf16 = MemoryPlan.of(MemoryPlan.Inputs.full("sft", "cuda:0", GPT2_124M, 8, 1024,
                Precision.BF16));
        long p = GPT2_124M.parameterCount();
        assertEquals(6 * p, bf16.bytes("weights"));
        assertEquals(fp32.bytes("moments"), bf16.bytes("moments"));
        // The blocks halve; the head's logits stay fp32.
        assertTrue(bf16.bytes("activations") < 0.8 * fp32.bytes("activations"));
        // On CUDA the checkpoint buffers are host RAM, not device memory.
        assertEquals(bf16.total() - bf16.bytes("checkpoint buffers"), bf16.deviceBytes());
        assertEquals(bf16.bytes("checkpoint buffers"), bf16.hostBytes());
    }

    @Test
    void loraHasGradientsAndMomentsForItsAdaptersOnly() {
        GptConfig llama = GptConfig.llama(32000, 2048, 16, 32, 8, 2048, 5632, 10000, false, 0);
        long adapters = new LoraConfig(16, 32, null).parameterCount(llama);
        MemoryPlan plan = MemoryPlan.of(new MemoryPlan.Inputs("sft", "cuda:0", llama, adapters, List.of(), 4, 2048,
                Precision.FP32, false, MemoryPlan.checkpointBuffers(llama.parameterCount(), adapters), 1));
        assertEquals(4 * llama.parameterCount(), plan.bytes("weights"));
        assertEquals(4 * adapters, plan.bytes("grads"));
        assertEquals(8 * adapters, plan.bytes("moments"));
        assertTrue(adapters < llama.parameterCount() / 100, "q_proj and v_proj at rank 16: " + adapters);
    }

    @Test
    void frozenModelsCostTheirWeightsOnlyAndCheckpointingKeepsOneInputPerBlock() {
        MemoryPlan dpo = MemoryPlan.of(new MemoryPlan.Inputs("dpo", "cpu", GPT2_124M, GPT2_124M.parameterCount(),
                List.of(GPT2_124M), 2, 1024, Precision.FP32, false, 0, 1));
        assertEquals(4 * GPT2_124M.parameterCount(), dpo.bytes("frozen models"));

        long plain = MemoryPlan.activationBytes(GPT2_124M, 8, 1024, Precision.FP32, false, false);
        long ckpt = MemoryPlan.activationBytes(GPT2_124M, 8, 1024, Precision.FP32, true, false);
        long tokens = 8 * 1024;
        long block = (24 * 768 + 12 * 1024) * 4L;
        assertEquals(tokens * (12 * block - 12 * 768 * 4 - block), plain - ckpt);
    }

    @Test
    void aStageThatDoesNotFitIsRefusedWithTheArithmetic() {
        MemoryPlan plan = MemoryPlan.of(MemoryPlan.Inputs.full("sft", "cuda:0", GPT2_124M, 16, 1024,
                Precision.FP32));
        AvailableMemory small = device -> OptionalLong.of(device.equals("cpu") ? 64 * GIB : 8 * GIB);
        BadInputException e = assertThrows(BadInputException.class, () -> MemoryCheck.require(plan, small));
        String m = e.getMessage();
        assertTrue(m.startsWith("stage sft needs ≈ "), m);
        assertTrue(m.contains("GiB on cuda:0 (weights 0.46 + grads 0.46 + moments 0.93 + activations "), m);
        assertTrue(m.contains(" at batch_size 16 × 1024 tokens"), m);
        assertTrue(m.contains("but 8.00 GiB are free: lower train.batch_size"), m);
        assertTrue(m.contains("set train.activation_checkpointing: true (pretrain, sft), use precision: bf16"), m);
        assertTrue(!m.contains("checkpoint buffers"), "host RAM is not the GPU's: " + m);

        // The same plan fits a bigger card; then the host, which holds the checkpoint buffers, is checked too.
        MemoryCheck.require(plan, device -> OptionalLong.of(device.equals("cpu") ? 64 * GIB : 80 * GIB));
        BadInputException host = assertThrows(BadInputException.class, () -> MemoryCheck.require(plan,
                device -> OptionalLong.of(device.equals("cpu") ? GIB : 80 * GIB)));
        assertTrue(host.getMessage().contains("on the host (checkpoint buffers 1.48 + runtime 0.59"),
                host.getMessage());
        // No figure (not Linux, no CUDA info): nothing to refuse on.
        MemoryCheck.require(plan, device -> OptionalLong.empty());
    }

    @Test
    void hostMemoryIsTheSmallerOfMemAvailableAndWhatTheCgroupLeaves(@TempDir Path root) throws Exception {
        Files.createDirectories(root.resolve("proc"));
        Files.writeString(root.resolve("proc/meminfo"), "MemTotal: 32000000 kB\nMemAvailable:   20000000 kB\n");
        assertEquals(OptionalLong.of(20_000_000L * 1024), AvailableMemory.host(root));

        Path v1 = Files.createDirectories(root.resolve("sys/fs/cgroup/memory"));
        Files.writeString(v1.resolve("memory.limit_in_bytes"), "9223372036854771712\n");   // v1: no limit
        Files.writeString(v1.resolve("memory.usage_in_bytes"), "1000\n");
        assertEquals(OptionalLong.of(20_000_000L * 1024), AvailableMemory.host(root));
        Files.writeString(v1.resolve("memory.limit_in_bytes"), String.valueOf(8 * GIB));
        Files.writeString(v1.resolve("memory.usage_in_bytes"), String.valueOf(GIB));
        assertEquals(OptionalLong.of(7 * GIB), AvailableMemory.host(root));

        Path v2 = root.resolve("sys/fs/cgroup");
        Files.writeString(v2.resolve("memory.max"), String.valueOf(4 * GIB) + "\n");
        Files.writeString(v2.resolve("memory.current"), String.valueOf(2 * GIB) + "\n");
        assertEquals(OptionalLong.of(2 * GIB), AvailableMemory.host(root));
        // Inactive page cache is reclaimed before the OOM killer runs: not counted as used.
        Files.writeString(v2.resolve("memory.stat"), "anon 1000\ninactive_file " + GIB + "\nactive_file 5\n");
        assertEquals(OptionalLong.of(3 * GIB), AvailableMemory.host(root));
    }
}
