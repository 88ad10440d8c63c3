package forge.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.model.Precision;
import forge.optim.AdamW;
import forge.optim.AdamWConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Not a test: the {@link MemoryPlan} of a bare training step against the process's peak resident memory on CPU, one
 * model per JVM (a second model would start from the first one's allocator state). Run with the test classpath:
 * {@code java forge.train.MemoryPlanMeasure gpt2|llama layers width vocab seq batch [checkpointing]}.
 * Prints one markdown row: measured resident growth (weights, then the step's peak), the plan, and the ratio.
 */
public final class MemoryPlanMeasure {
    public static void main(String[] args) throws IOException {
        String arch = args[0];
        int layers = Integer.parseInt(args[1]);
        int width = Integer.parseInt(args[2]);
        int vocab = Integer.parseInt(args[3]);
        int seq = Integer.parseInt(args[4]);
        int batch = Integer.parseInt(args[5]);
        boolean ckpt = args.length > 6 && Boolean.parseBoolean(args[6]);
        GptConfig cfg = arch.equals("llama")
                ? GptConfig.llama(vocab, seq, layers, width / 64, Math.max(1, width / 256), width,
                        (int) (Math.round(8.0 / 3 * width / 32) * 32), 10000, false, 0)
                : new GptConfig(vocab, seq, layers, width / 64, width, 0.0, true);
        MemoryPlan plan = MemoryPlan.of(new MemoryPlan.Inputs("bare", "cpu", cfg, cfg.parameterCount(),
                java.util.List.of(), batch, seq, Precision.FP32, ckpt, 0, 1));
        // Warm the engine (libtorch's threads, kernels, allocator) on a tiny step so the baseline includes it.
        step(new GptConfig(64, 16, 1, 1, 64, 0, true), 2, 16, 1, ckpt);
        long base = status("VmRSS");
        Files.writeString(Path.of("/proc/self/clear_refs"), "5");       // resets VmHWM to the current RSS
        long[] r = step(cfg, batch, seq, 3, ckpt);
        long peak = status("VmHWM") - base;
        long planned = plan.deviceBytes();
        System.out.printf("| %s %d×%d, V %d%s | %,d | %d × %d | %.2f | %.2f | %.2f | %.2f | %.2f |%n", arch, layers,
                width, vocab, ckpt ? ", checkpointed" : "", cfg.parameterCount(), batch, seq, gib(r[0] - base), gib(peak),
                gib(plan.bytes("weights") + plan.bytes("grads") + plan.bytes("moments")), gib(planned),
                peak / (double) planned);
        System.out.printf("runtime baseline (engine warm): %.2f GiB%n", gib(base));
        System.out.printf("activations: measured peak − state %.2f GiB, planned %.2f GiB%n",
                gib(peak - (r[1] - base)), gib(plan.bytes("activations")));
    }

    /** {RSS after the model and optimizer exist, RSS after the last step} */
    private static long[] step(GptConfig cfg, int batch, int seq, int steps, boolean ckpt) throws IOException {
        try (NDManager root = NDManager.newBaseManager();
             Gpt g = Gpt.create(root, cfg, 1);
             AdamW opt = new AdamW(root, g.parameters(), AdamWConfig.nanoGptBaby())) {
            long built = status("VmRSS");
            for (int s = 0; s < steps; s++) {
                try (NDScope scope = new NDScope(); NDManager data = root.newSubManager()) {
                    NDArray x = data.randomInteger(0, cfg.vocabSize(), new Shape(batch, seq), DataType.INT64);
                    NDArray y = data.randomInteger(0, cfg.vocabSize(), new Shape(batch, seq), DataType.INT64);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        if (ckpt) {
                            g.backwardCheckpointed(gc, x, null, null, logits -> Gpt.crossEntropy(logits, y, null));
                        } else {
                            gc.backward(Gpt.crossEntropy(g.forward(x, true), y, null));
                        }
                    }
                    opt.step(s);
                }
            }
            return new long[] {built, status("VmRSS")};
        }
    }

    private static long status(String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(key + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException(key);
    }

    private static double gib(long b) {
        return b / (double) (1L << 30);
    }
}
