package forge.optim;

import forge.errors.BadInputException;
import forge.tensor.HostTensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Dynamic loss scaling for fp16 training, torch.cuda.amp.GradScaler's rule with its defaults: the loss is multiplied
 * by the scale before backward so that small gradients survive fp16; {@link AdamW} divides it out again before it
 * measures and clips the gradient norm. A step whose gradients came back inf or NaN is skipped (nothing applied, the
 * scale halves); after {@link #GROWTH_INTERVAL} clean steps in a row the scale doubles. The scale is always a power
 * of two, so scaling and unscaling are exact in float32.
 *
 * <p>State is the scale and the count of clean steps since the last change; both go into the optimizer's
 * checkpoint, so a resumed fp16 run scales exactly as the uninterrupted one.
 */
public final class LossScaler {
    public static final double INIT_SCALE = 65536.0;          // 2^16
    public static final double GROWTH_FACTOR = 2.0;
    public static final double BACKOFF_FACTOR = 0.5;
    public static final int GROWTH_INTERVAL = 2000;
    /**
     * Below this the scale has halved 40 times from 2^16 without one clean step: the gradients are inf or NaN
     * whatever the scale, i.e. the model itself diverged, and skipping forever would hide it.
     */
    public static final double MIN_SCALE = 0x1p-24;

    static final String SCALE = "grad_scaler.scale";
    static final String GROWTH_TRACKER = "grad_scaler.growth_tracker";

    private double scale = INIT_SCALE;
    private int growthTracker;

    public double scale() {
        return scale;
    }

    /** Clean steps since the scale last changed. */
    public int growthTracker() {
        return growthTracker;
    }

    /**
     * After a step: finite gradients count towards growth, non-finite ones back the scale off (the caller skips the
     * update). Throws once the scale fell below {@link #MIN_SCALE}.
     */
    public void update(boolean finite) {
        if (finite) {
            if (++growthTracker == GROWTH_INTERVAL) {
                scale *= GROWTH_FACTOR;
                growthTracker = 0;
            }
            return;
        }
        scale *= BACKOFF_FACTOR;
        growthTracker = 0;
        if (scale < MIN_SCALE) {
            throw new NonFiniteGradientException(Double.NaN, "the fp16 loss scale fell to " + scale
                    + " and the gradients are still not finite: training diverged");
        }
    }

    /** The state as two float32 scalars (exact: the scale is a power of two, the tracker below 2^24). */
    Map<String, HostTensor> snapshot() {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        out.put(SCALE, HostTensor.f32(new long[0], new float[] {(float) scale}));
        out.put(GROWTH_TRACKER, HostTensor.f32(new long[0], new float[] {growthTracker}));
        return out;
    }

    /** Restores {@link #snapshot()}'s state; an fp16 checkpoint without it is refused. */
    void load(Map<String, HostTensor> state) {
        HostTensor s = state.get(SCALE);
        HostTensor g = state.get(GROWTH_TRACKER);
        if (s == null || g == null) {
            throw new BadInputException("optimizer checkpoint has no loss-scaler state (" + SCALE + ", "
                    + GROWTH_TRACKER + "): it was not written by an fp16 run");
        }
        double loadedScale = s.asF32().toFloatArray()[0];
        float tracker = g.asF32().toFloatArray()[0];
        if (!(loadedScale > 0) || Double.isInfinite(loadedScale) || tracker < 0 || tracker >= GROWTH_INTERVAL
                || tracker != Math.rint(tracker)) {
            throw new BadInputException("optimizer checkpoint's loss-scaler state is invalid: scale " + loadedScale
                    + ", growth tracker " + tracker);
        }
        scale = loadedScale;
        growthTracker = (int) tracker;
    }

    static boolean isState(String name) {
        return name.equals(SCALE) || name.equals(GROWTH_TRACKER);
    }
}
