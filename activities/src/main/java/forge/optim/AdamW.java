package forge.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import forge.errors.BadInputException;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * torch.optim.AdamW with global-norm gradient clipping (torch.nn.utils.clip_grad_norm_) and nanoGPT's parameter
 * groups: weight decay only for parameters with two or more dimensions.
 *
 * <p>The update itself is DJL's fused native Adam kernel (one JNI call per parameter, in place, which also zeroes
 * that parameter's gradient with zero_() — no NaN can survive the reset). That kernel computes
 * p -= lr·wd·p; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; p -= lr'·m / (√v + eps'); torch's bias correction is
 * folded into lr' = lr·√(1-β2ᵗ)/(1-β1ᵗ) and eps' = eps·√(1-β2ᵗ), which is the same update algebraically.
 *
 * <p>There is no hidden step counter: t = step + 1 comes from the caller, so moments plus the step number are the
 * whole state and a resumed run continues exactly.
 *
 * <p>fp16 ({@link AdamWConfig#lossScaling()}): the gradients arrive multiplied by the {@link LossScaler}'s scale.
 * As GradScaler's unscale_ before clip_grad_norm_, the norm is measured unscaled and 1/scale is folded into the
 * kernel's rescale_grad with the clip, so unscaling costs no extra pass. A non-finite norm then skips the step and
 * backs the scale off instead of throwing; the scaler's state is part of {@link #snapshotState()}.
 */
public final class AdamW implements AutoCloseable {
    private final NDManager manager;
    private final AdamWConfig cfg;
    private final LinkedHashMap<String, NDArray> params;
    private final LinkedHashMap<String, NDArray> expAvg = new LinkedHashMap<>();
    private final LinkedHashMap<String, NDArray> expAvgSq = new LinkedHashMap<>();
    private final LossScaler scaler;        // null unless cfg.lossScaling()

    /** @param skipped the update was not applied: fp16 gradients overflowed and the loss scale backed off */
    public record StepStats(double lr, double gradNorm, boolean skipped) {
        public StepStats(double lr, double gradNorm) {
            this(lr, gradNorm, false);
        }
    }

    public AdamW(NDManager manager, LinkedHashMap<String, NDArray> params, AdamWConfig cfg) {
        this.manager = manager.newSubManager();
        this.cfg = cfg;
        this.params = new LinkedHashMap<>(params);
        this.scaler = cfg.lossScaling() ? new LossScaler() : null;
        params.forEach((name, p) -> {
            if (!p.hasGradient()) {
                throw new IllegalArgumentException("parameter " + name + " does not require a gradient");
            }
            expAvg.put(name, keep(this.manager.zeros(p.getShape())));
            expAvgSq.put(name, keep(this.manager.zeros(p.getShape())));
        });
    }

    private static NDArray keep(NDArray a) {
        NDScope.unregister(a);
        return a;
    }

    public AdamWConfig config() {
        return cfg;
    }

    /** The fp16 loss scaler whose scale the gradients arrive multiplied by, or null without loss scaling. */
    public LossScaler lossScaler() {
        return scaler;
    }

    /**
     * Drops this step's gradients without updating because its loss was not finite: under loss scaling the step is
     * skipped and the scale backs off, as an overflowing backward would have made it (returns the skipped stats);
     * without, nothing to decide here — the caller refuses the step.
     */
    public StepStats skipNonFiniteLoss(long scheduleStep) {
        zeroGrad();
        if (scaler == null) {
            throw new IllegalStateException("a non-finite loss is skipped only under loss scaling");
        }
        scaler.update(false);
        return new StepStats(LrSchedule.at(cfg, scheduleStep), Double.NaN, true);
    }

    /**
     * One update with the gradients accumulated since the last step (or {@link #zeroGrad()}), at the learning rate
     * of {@code step}, then zeroes them. Returns the learning rate used and the global gradient norm before
     * clipping.
     *
     * @throws NonFiniteGradientException if that norm is NaN or infinite; nothing is updated, the gradients are zeroed
     */
    public StepStats step(long step) {
        return step(step, step);
    }

    /**
     * {@link #step(long)} for a stage that takes several updates per schedule step (PPO: epochs of mini-batches per
     * rollout): the learning rate of {@code scheduleStep}, bias correction for update {@code step}.
     */
    public StepStats step(long step, long scheduleStep) {
        if (step < 0 || scheduleStep < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step + " (schedule " + scheduleStep + ")");
        }
        double lr = LrSchedule.at(cfg, scheduleStep);
        long t = step + 1;
        double bc1 = 1 - Math.pow(cfg.beta1(), t);
        double bc2Sqrt = Math.sqrt(1 - Math.pow(cfg.beta2(), t));
        double gradNorm;
        try (NDScope scope = new NDScope()) {
            List<NDArray> grads = new ArrayList<>(params.size());
            NDList norms = new NDList(params.size());
            for (NDArray p : params.values()) {
                NDArray g = p.getGradient();
                grads.add(g);
                norms.add(g.norm());
            }
            // As clip_grad_norm_: the norm of the per-parameter norms, in float32 on the engine.
            gradNorm = NDArrays.stack(norms).norm().getFloat();
            double lossScale = scaler == null ? 1 : scaler.scale();
            if (scaler != null) {
                gradNorm /= lossScale;                 // exact: the scale is a power of two
                if (!Double.isFinite(gradNorm)) {
                    zeroGrad();
                    scaler.update(false);
                    return new StepStats(lr, gradNorm, true);
                }
            }
            if (!Double.isFinite(gradNorm)) {
                // As clip_grad_norm_(error_if_nonfinite=True), before anything is applied: a NaN in one moment would
                // spread to every later update, and clipping by a NaN scale would write NaN into every weight.
                zeroGrad();
                throw new NonFiniteGradientException(gradNorm);
            }
            float scale = 1f;
            if (cfg.gradClip() > 0 && gradNorm > cfg.gradClip()) {
                scale = (float) (cfg.gradClip() / (gradNorm + 1e-6));
            }
            if (scaler != null) {
                scale = (float) (scale / lossScale);   // unscale and clip in the kernel's one rescale_grad
            }
            int i = 0;
            for (Map.Entry<String, NDArray> e : params.entrySet()) {
                NDArray p = e.getValue();
                float wd = p.getShape().dimension() >= 2 ? (float) cfg.weightDecay() : 0f;
                p.getNDArrayInternal().adamUpdate(
                        new NDList(p, grads.get(i++), expAvg.get(e.getKey()), expAvgSq.get(e.getKey())),
                        new NDList(p),
                        (float) lr,                        // for the decoupled decay
                        (float) (lr * bc2Sqrt / bc1),      // for the moment step
                        wd,
                        scale,                             // rescale_grad: the clip
                        -1f,                               // no element-wise clamp
                        (float) cfg.beta1(),
                        (float) cfg.beta2(),
                        (float) (cfg.eps() * bc2Sqrt),
                        false,
                        true);                             // decoupled (AdamW) decay
            }
        }
        if (scaler != null) {
            scaler.update(true);
        }
        return new StepStats(lr, gradNorm);
    }

    /** Drops accumulated gradients without updating, e.g. to skip a step whose loss was not finite. */
    public void zeroGrad() {
        params.values().forEach(EngineArrays::zeroGradient);
    }

    /** Host copies of the moments: exp_avg.&lt;name&gt; and exp_avg_sq.&lt;name&gt;, in parameter order. */
    public LinkedHashMap<String, HostTensor> snapshotState() {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        expAvg.forEach((name, m) -> out.put("exp_avg." + name, HostTensor.of(m)));
        expAvgSq.forEach((name, v) -> out.put("exp_avg_sq." + name, HostTensor.of(v)));
        if (scaler != null) {
            out.putAll(scaler.snapshot());
        }
        return out;
    }

    /** Restores moments saved by {@link #snapshotState()}; checks every name and shape before writing any. */
    public void loadState(Map<String, HostTensor> state) {
        LinkedHashMap<String, NDArray> targets = new LinkedHashMap<>();
        expAvg.forEach((name, m) -> targets.put("exp_avg." + name, m));
        expAvgSq.forEach((name, v) -> targets.put("exp_avg_sq." + name, v));
        for (Map.Entry<String, NDArray> e : targets.entrySet()) {
            HostTensor t = state.get(e.getKey());
            if (t == null) {
                throw new BadInputException("optimizer checkpoint is missing tensor " + e.getKey());
            }
            long[] expected = e.getValue().getShape().getShape();
            if (!t.dtype().equals("F32") || !Arrays.equals(t.shape(), expected)) {
                throw new BadInputException("optimizer checkpoint tensor " + e.getKey() + " is " + t.dtype() + " "
                        + Arrays.toString(t.shape()) + ", expected F32 " + Arrays.toString(expected));
            }
        }
        for (String name : state.keySet()) {
            if (LossScaler.isState(name) && scaler == null) {
                throw new BadInputException("optimizer checkpoint holds fp16 loss-scaler state (" + name
                        + "): it was written by an fp16 run, and this one does not scale its loss");
            }
            if (!targets.containsKey(name) && !LossScaler.isState(name)) {
                throw new BadInputException("optimizer checkpoint has tensor " + name + " that this model does not");
            }
        }
        if (scaler != null) {
            scaler.load(state);                        // checked before any moment is written
        }
        targets.forEach((name, a) -> EngineArrays.copyInto(a, state.get(name)));
    }

    @Override
    public void close() {
        manager.close();
    }
}
