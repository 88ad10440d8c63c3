package forge.bench;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** infra/gpu/verify.sh's checks at a tiny size on the CPU, so the script's Java side does not rot without a GPU. */
class GpuVerifyTest {
    @Test
    void theTinyChecksPassOnTheCpu() throws Exception {
        Path llama = Path.of(GpuVerifyTest.class.getResource("/hf-fixtures/llama/config.json").toURI()).getParent();
        List<String> lines = new ArrayList<>();
        new GpuVerify("cpu", true, 20, 100, "fp32", llama).run(lines::add);
        String all = String.join("\n", lines);
        assertTrue(all.contains("tokens/s"), all);
        assertTrue(all.contains("MFU: "), all);
        assertTrue(all.contains("memory plan: "), all);
        assertTrue(all.contains("byte-identical to the uninterrupted run"), all);
        assertTrue(all.contains("llama: llama fine-tuned 4 steps"), all);
        assertTrue(lines.get(lines.size() - 1).equals("gpu-verify: all checks passed"), all);
    }
}
