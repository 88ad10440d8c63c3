package forge.model;

import ai.djl.ndarray.NDArray;

/**
 * One affine map of a block, in the layout its Hugging Face checkpoint stores: GPT-2's Conv1D keeps the weight as
 * (in, out) and computes x·W + b; every other architecture's nn.Linear keeps (out, in) and computes x·Wᵀ + b. A LoRA
 * {@link Adapter} adds scale·(x·A)·B on top, its A and B in the same layout convention as the weight.
 */
final class Linear {
    final NDArray weight;
    final NDArray bias;                     // null when the linear has none
    final boolean conv1d;
    Adapter adapter;                        // null unless LoRA targets this linear

    /**
     * LoRA's low-rank pair. Conv1D: A (in, r), B (r, out). nn.Linear: PEFT's lora_A.weight (r, in) and
     * lora_B.weight (out, r). scale = alpha / r as an engine scalar (x.mul(Number) would break autograd).
     */
    record Adapter(NDArray a, NDArray b, NDArray scale) {
    }

    Linear(NDArray weight, NDArray bias, boolean conv1d) {
        this.weight = weight;
        this.bias = bias;
        this.conv1d = conv1d;
    }

    long in() {
        return weight.getShape().get(conv1d ? 0 : 1);
    }

    long out() {
        return weight.getShape().get(conv1d ? 1 : 0);
    }

    /** x (N, in) → (N, out). */
    NDArray forward(NDArray x) {
        NDArray y;
        if (conv1d) {
            y = x.matMul(weight);                                                    // (N, out)
            if (bias != null) {
                y = y.add(bias);
            }
        } else {
            y = bias == null ? ai.djl.nn.core.Linear.linear(x, weight).singletonOrThrow()
                    : ai.djl.nn.core.Linear.linear(x, weight, bias).singletonOrThrow(); // (N, out)
        }
        Adapter a = adapter;
        if (a != null) {
            NDArray low = conv1d ? x.matMul(a.a) : ai.djl.nn.core.Linear.linear(x, a.a).singletonOrThrow(); // (N, r)
            low = low.mul(a.scale);
            y = y.add(conv1d ? low.matMul(a.b) : ai.djl.nn.core.Linear.linear(low, a.b).singletonOrThrow());
        }
        return y;
    }

    /** The adapter's update to the weight, in the weight's layout: scale·A·B (Conv1D) or scale·B·A (nn.Linear). */
    NDArray adapterDelta() {
        Adapter a = adapter;
        return (conv1d ? a.a.matMul(a.b) : a.b.matMul(a.a)).mul(a.scale);
    }
}
