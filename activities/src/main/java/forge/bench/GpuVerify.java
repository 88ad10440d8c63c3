package forge.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.util.cuda.CudaUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.sft.SftConfig;
import forge.stage.sft.SftStage;
import forge.train.MemoryCheck;
import forge.train.MemoryPlan;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainingMetrics;
import forge.train.TrainingProgress;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.MemoryUsage;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The checks a machine with one CUDA GPU must pass before anyone trusts the CUDA path ({@code infra/gpu/verify.sh},
 * {@code ./forge gpu-verify}): the engine sees the GPU; GPT-2 small's shape trains (tokens/s, MFU against the GPU's
 * peak, GPU memory against the {@link MemoryPlan}); a pretrain stage stopped and resumed on the same GPU ends
 * byte-identical to an uninterrupted one; a Llama Hugging Face fixture fine-tunes through the SFT stage. Each check
 * throws on failure. {@code tiny} runs the same checks with a 2-layer model on any device in seconds (its unit test).
 *
 * @param device      "cuda" (fail unless DJL's default device is a GPU) or "cpu"
 * @param steps       training steps of the throughput run
 * @param peakTflops  the GPU's dense peak for the precision, for MFU (0: not printed)
 * @param precision   written as the stage's {@code train.precision} unless "fp32"
 * @param llamaFixture a Hugging Face Llama checkpoint directory to fine-tune, or null to skip
 */
public record GpuVerify(String device, boolean tiny, int steps, double peakTflops, String precision,
                        Path llamaFixture) {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    public GpuVerify {
        if (!device.equals("cuda") && !device.equals("cpu")) {
            throw new BadInputException("--device must be cuda or cpu, got " + device);
        }
        if (steps < 2) {
            throw new BadInputException("--steps must be >= 2, got " + steps);
        }
    }

    public void run(Consumer<String> out) {
        Engine engine = Engine.getInstance();
        Device d = engine.defaultDevice();
        out.accept("engine: " + engine.getEngineName() + " " + engine.getVersion() + ", default device " + d
                + ", GPUs visible " + engine.getGpuCount());
        if (device.equals("cuda")) {
            if (!d.isGpu()) {
                throw new IllegalStateException("DJL's PyTorch engine sees no CUDA device (it loaded a CPU libtorch "
                        + "or no driver): see infra/gpu/README.md for how the CUDA libtorch gets onto the machine");
            }
            MemoryUsage m = CudaUtils.getGpuMemory(d);
            out.accept(String.format(Locale.ROOT, "cuda: %s, compute capability %s, %.1f GiB, %.1f GiB free",
                    CudaUtils.getCudaVersionString(), CudaUtils.getComputeCapability(d.getDeviceId()),
                    m.getMax() / GIB, (m.getMax() - m.getCommitted()) / GIB));
        }
        throughput(out);
        resumeBitExact(out);
        if (llamaFixture != null) {
            llamaFineTune(out);
        }
        out.accept("gpu-verify: all checks passed");
    }

    private static final double GIB = 1024.0 * 1024 * 1024;

    /**
     * GPT-2 small's shape with the demo corpus's BPE (it yields 742 tokens of the 8,192 asked for: ≈ 86 M parameters,
     * no 50k head), or a 2-layer one.
     */
    private String pretrainSpec(int maxSteps, int batch, int checkpointEvery) {
        String model = tiny ? "{n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}"
                : "{n_layer: 12, n_head: 12, n_embd: 768, block_size: 1024}";
        String tokenizer = tiny ? "{type: char}" : "{type: bpe, vocab_size: 8192}";
        String docs = tiny ? "300" : "20000";
        return """
                seed: 11
                model: %s
                tokenizer: %s
                data: {sources: [{path: "demo:pretrain?seed=7&docs=%s"}]}
                train: {max_steps: %d, batch_size: %d, warmup_steps: 2}
                eval: {interval: %d, batches: 1}
                checkpoint: {interval_steps: %d, interval_seconds: 3600, keep_last: 2}
                sample: {count: 0}
                """.formatted(model, tokenizer, docs, maxSteps, batch, maxSteps, checkpointEvery);
    }

    private PretrainConfig pretrain(int maxSteps, int batch, int checkpointEvery) {
        try {
            ObjectNode spec = (ObjectNode) YAML.readTree(pretrainSpec(maxSteps, batch, checkpointEvery));
            if (!precision.equals("fp32")) {
                ((ObjectNode) spec.get("train")).put("precision", precision);
            }
            return PretrainConfig.parse(spec);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void throughput(Consumer<String> out) {
        PretrainConfig cfg = pretrain(steps, tiny ? 4 : 12, 1000);
        BareTraining.Result r = BareTraining.run(cfg, s -> { });
        double flopsPerToken = Flops.trainingPerToken(r.model());
        out.accept(String.format(Locale.ROOT, "train: %,d parameters, %d steps of %d × %d tokens, %s: %,.0f tokens/s, "
                        + "val loss %.3f → %.3f", r.model().parameterCount(), r.steps(), cfg.train().batchSize(),
                r.model().blockSize(), precision, r.tokensPerSecond(), r.valLossStart(), r.valLossEnd()));
        if (peakTflops > 0) {
            out.accept(String.format(Locale.ROOT, "MFU: %.1f%% (%.1f TFLOP/s of %.0f)",
                    100 * flopsPerToken * r.tokensPerSecond() / (peakTflops * 1e12),
                    flopsPerToken * r.tokensPerSecond() / 1e12, peakTflops));
        }
        MemoryPlan plan = MemoryCheck.atStart("pretrain", r.model(), r.model().parameterCount(), java.util.List.of(),
                cfg.train().batchSize(), r.model().blockSize(), 1);
        out.accept("memory plan: " + MemoryPlan.gib(plan.deviceBytes()) + " GiB on " + plan.device()
                + (plan.onCuda() ? String.format(Locale.ROOT, "; the GPU has %.2f GiB in use now (after training; "
                + "libtorch's caching allocator keeps what it reserved)",
                CudaUtils.getGpuMemory(Engine.getInstance().defaultDevice()).getCommitted() / GIB) : ""));
        if (!(r.valLossEnd() < r.valLossStart())) {
            throw new IllegalStateException("validation loss did not fall: " + r.valLossStart() + " → "
                    + r.valLossEnd());
        }
    }

    private void resumeBitExact(Consumer<String> out) {
        int n = tiny ? 12 : 30;
        PretrainConfig cfg = pretrain(n, tiny ? 4 : 4, n / 3);
        try (BenchS3 s3 = BenchS3.start("gpu-verify")) {
            long t0 = System.nanoTime();
            StageOutcome straight = new PretrainStage(cfg, s3.store("straight", "pretrain", 2), s3.storage,
                    metrics("pretrain"), null).run(StageControl.NONE);
            AtomicLong step = new AtomicLong();
            StageControl stopHalfway = new StageControl() {
                @Override
                public void progress(TrainingProgress p) {
                    step.set(p.step());
                }

                @Override
                public void milestone(TrainingProgress p) {}

                @Override
                public boolean stopRequested() {
                    return step.get() >= n / 2;
                }
            };
            StageOutcome stopped = new PretrainStage(cfg, s3.store("resumed", "pretrain", 2), s3.storage,
                    metrics("pretrain"), null).run(stopHalfway);
            StageOutcome resumed = new PretrainStage(cfg, s3.store("resumed", "pretrain", 2), s3.storage,
                    metrics("pretrain"), null).run(StageControl.NONE);
            if (!straight.completed() || stopped.completed() || !resumed.completed()) {
                throw new IllegalStateException("expected straight and resumed runs to complete and the stopped one "
                        + "to stop: " + straight.completed() + ", " + stopped.completed() + ", " + resumed.completed());
            }
            LoadedCheckpoint a = s3.store("straight", "pretrain", 2).loadFinal().orElseThrow();
            LoadedCheckpoint b = s3.store("resumed", "pretrain", 2).loadFinal().orElseThrow();
            for (String file : new String[] {"model.safetensors", "optimizer.safetensors"}) {
                if (!Arrays.equals(a.file(file), b.file(file))) {
                    throw new IllegalStateException(file + " of the run stopped at step " + stopped.step()
                            + " and resumed differs from the uninterrupted run's");
                }
            }
            out.accept(String.format(Locale.ROOT, "resume: stopped at step %d of %d, resumed; model and optimizer "
                    + "byte-identical to the uninterrupted run (%.0f s for the three runs)", stopped.step(), n,
                    (System.nanoTime() - t0) / 1e9));
        }
    }

    private void llamaFineTune(Consumer<String> out) {
        JsonNode spec;
        try {
            spec = YAML.readTree("""
                    seed: 3
                    init_from: {hf: "%s"}
                    data: {sources: [{path: "demo:sft?seed=7&count=40"}]}
                    train: {max_steps: 4, batch_size: 2, warmup_steps: 1, learning_rate: 0.003}
                    eval: {interval: 4, batches: 1}
                    task_eval: {count: 0}
                    checkpoint: {interval_steps: 100, interval_seconds: 3600, keep_last: 2}
                    sample: {count: 0}
                    """.formatted(llamaFixture.toAbsolutePath().toString().replace("\\", "/")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (BenchS3 s3 = BenchS3.start("gpu-verify-llama")) {
            StageOutcome o = new SftStage(SftConfig.parse(spec), null, s3.store("llama", "sft", 2), s3.storage,
                    metrics("sft"), null).run(StageControl.NONE);
            if (!o.completed()) {
                throw new IllegalStateException("the Llama fine-tune did not complete");
            }
            out.accept(String.format(Locale.ROOT, "llama: %s fine-tuned %d steps through the SFT stage, %s",
                    llamaFixture.getFileName(), o.step(), o.metrics()));
        }
    }

    private static TrainingMetrics metrics(String stage) {
        return new TrainingMetrics(new SimpleMeterRegistry(), "gpu-verify", stage);
    }
}
