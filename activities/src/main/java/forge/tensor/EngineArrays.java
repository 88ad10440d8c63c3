package forge.tensor;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Safe ways around two DJL PyTorch traps that corrupt training silently.
 *
 * <p>1. Arrays DJL builds from Java data ({@code manager.create(float[])}, {@code create(Number)}) do not own their
 * memory: the tensor points into a Java direct buffer that only the NDArray object keeps alive. Autograd keeps
 * tensors it needs for backward after their NDArray is closed, so once the buffer is collected, backward reads freed
 * memory. {@code x.mul(2.0)}, {@code div(Number)}, {@code maximum(Number)} and friends create such a scalar and close
 * it at once: on anything that requires a gradient they make backward wrong at random. Use {@link #scale} or a
 * {@link #scalar} instead; feed token ids and targets through {@link #owned} before they enter the graph.
 *
 * <p>2. {@code NDArray.set(Buffer)} and {@code copyTo} do not copy: they re-point the tensor at a Java buffer. On a
 * temporary handle (a gradient from getGradient()) that is a use-after-free as soon as the handle is gone. Use
 * {@link #copyInto} and {@link #zeroGradient}.
 */
public final class EngineArrays {
    private EngineArrays() {
    }

    /** A libtorch-owned array holding these values. */
    public static NDArray of(NDManager m, float[] values, Shape shape) {
        try (NDArray staged = m.create(values, shape)) {
            return staged.duplicate();
        }
    }

    /** A libtorch-owned copy (same dtype) of a, safe to keep in an autograd graph after a is closed. */
    public static NDArray owned(NDArray a) {
        return a.duplicate();
    }

    /** A libtorch-owned float32 scalar, on m's device. */
    public static NDArray scalar(NDManager m, double value) {
        return m.full(new Shape(), (float) value);
    }

    /** x · factor, safe under autograd (unlike {@code x.mul(Number)}). */
    public static NDArray scale(NDArray x, double factor) {
        try (NDArray f = scalar(x.getManager(), factor)) {
            return x.mul(f);
        }
    }

    /** Copies the host tensor's values into target's own storage, even for parameters that require gradients. */
    public static void copyInto(NDArray target, HostTensor source) {
        if (!target.getShape().equals(new Shape(source.shape()))) {
            throw new IllegalArgumentException("cannot copy " + source + " into an array of shape " + target.getShape());
        }
        try (NDArray staged = source.stage(target.getManager())) {
            boolean gradMode = JniUtils.isGradMode();
            JniUtils.setGradMode(false);
            try {
                if (target.getShape().dimension() == 0) {
                    try (NDArray flatTarget = target.reshape(1); NDArray flatSource = staged.reshape(1)) {
                        flatTarget.set(new NDIndex(":"), flatSource);
                    }
                } else {
                    target.set(new NDIndex(":"), staged);
                }
            } finally {
                JniUtils.setGradMode(gradMode);
            }
        }
    }

    /** Zeroes a parameter's accumulated gradient in place (zero_(), so NaN and inf go too). */
    public static void zeroGradient(NDArray parameter) {
        JniUtils.zeroGrad((PtNDArray) parameter);
    }
}
