package forge.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import forge.errors.BadInputException;
import forge.model.GptConfig;
import forge.model.Precision;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.OptionalLong;

/**
 * Refuses, before anything is allocated, a stage whose {@link MemoryPlan} does not fit the memory it has: a
 * non-retryable {@link BadInputException} carrying the arithmetic and what to change, instead of an OOM hours in. On
 * CUDA both budgets are checked: the device for weights, gradients, moments and activations, the host for the
 * checkpoint buffers and the runtime.
 */
public final class MemoryCheck {
    /** Allocator fragmentation and what the model cannot see (cuDNN workspaces, pinned buffers, the JIT). */
    static final double MARGIN = 1.10;
    /**
     * Host RAM of a CPU stage: glibc keeps the step's freed tensors for reuse under the malloc thresholds ./forge
     * sets, so peak RSS ran 1.23-1.25x the plan (BENCHMARKS.md, "Memory model").
     */
    static final double CPU_MARGIN = 1.30;

    private static final Logger log = LoggerFactory.getLogger(MemoryCheck.class);

    private MemoryCheck() {}

    /**
     * The one call a stage makes before it builds its models: plans for the engine's default device in fp32 without
     * activation checkpointing (stages pass their train section to the overload that reads both), logs the
     * plan and refuses a stage that does not fit.
     *
     * @param rows   rows of one micro-batch's forward (a preference stage's pairs count twice)
     * @param copies trained models of this shape (PPO's value model makes 2)
     */
    public static MemoryPlan atStart(String stage, GptConfig model, long trainable, List<GptConfig> frozen, int rows,
                                     int seq, int copies) {
        return atStart(stage, model, trainable, frozen, rows, seq, copies, Precision.FP32, false);
    }

    /** {@link #atStart} with the stage's train section: its precision and activation checkpointing. */
    public static MemoryPlan atStart(String stage, GptConfig model, long trainable, List<GptConfig> frozen, int rows,
                                     int seq, int copies, TrainSpec train) {
        return atStart(stage, model, trainable, frozen, rows, seq, copies,
                train.precision(), train.activationCheckpointing());
    }

    /** {@link #atStart} for a stage that may train with activation checkpointing or in lower precision. */
    public static MemoryPlan atStart(String stage, GptConfig model, long trainable, List<GptConfig> frozen, int rows,
                                     int seq, int copies, Precision precision,
                                     boolean activationCheckpointing) {
        long params = model.parameterCount() * copies;
        MemoryPlan plan = MemoryPlan.of(new MemoryPlan.Inputs(stage, device(Engine.getInstance().defaultDevice()),
                model, trainable, frozen, rows, seq, precision, activationCheckpointing,
                MemoryPlan.checkpointBuffers(params, trainable * copies), copies));
        log.info("{} memory plan: {} GiB on {} ({})", stage, MemoryPlan.gib(plan.deviceBytes()), plan.device(),
                plan.terms(false));
        require(plan, AvailableMemory.system());
        return plan;
    }

    /** "cpu" or "cuda:N". */
    public static String device(Device d) {
        return d.isGpu() ? "cuda:" + d.getDeviceId() : "cpu";
    }

    /** Logs nothing and passes when a budget cannot be read (not Linux, no CUDA figures). */
    public static void require(MemoryPlan plan, AvailableMemory available) {
        if (plan.onCuda()) {
            check(plan, plan.device(), plan.deviceBytes(), plan.terms(false), available.free(plan.device()), MARGIN);
            check(plan, "the host", plan.hostBytes() + MemoryPlan.RUNTIME_BYTES,
                    plan.terms(true) + " + runtime " + MemoryPlan.gib(MemoryPlan.RUNTIME_BYTES), available.free("cpu"),
                    MARGIN);
        } else {
            check(plan, "the host (cpu)", plan.total() + MemoryPlan.RUNTIME_BYTES,
                    plan.terms(false) + " + runtime " + MemoryPlan.gib(MemoryPlan.RUNTIME_BYTES), available.free("cpu"),
                    CPU_MARGIN);
        }
    }

    private static void check(MemoryPlan plan, String where, long needed, String terms, OptionalLong free,
                              double margin) {
        if (free.isEmpty()) {
            return;
        }
        long withMargin = (long) (needed * margin);
        if (withMargin <= free.getAsLong()) {
            return;
        }
        throw new BadInputException("stage " + plan.stage() + " needs ≈ " + MemoryPlan.gib(withMargin) + " GiB on "
                + where + " (" + terms + ", and " + Math.round((margin - 1) * 100) + "% for fragmentation) but "
                + MemoryPlan.gib(free.getAsLong()) + " GiB are free: " + advice(plan, where.startsWith("the host")));
    }

    private static String advice(MemoryPlan plan, boolean host) {
        if (host && plan.onCuda()) {
            return "run it on a worker with more host memory (a checkpoint holds host copies of the weights and "
                    + "optimizer state while it uploads)";
        }
        boolean checkpointing = plan.parts().stream().anyMatch(p -> p.detail().contains("checkpointing"));
        return "lower train.batch_size (raise train.grad_accum_steps to keep the tokens per step)"
                + (checkpointing ? "" : ", set train.activation_checkpointing: true (pretrain, sft)")
                + (plan.onCuda() ? ", use precision: bf16" : "") + ", shorten the sequences, or train a smaller model";
    }
}
