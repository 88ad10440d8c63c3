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

    /** x (N, in) → (N, out), in the precision's compute dtype (the weights cast from their fp32 masters). */
    NDArray forward(NDArray x, Precision precision) {
        x = precision.compute(x);
        NDArray w = precision.compute(weight);
        NDArray bs = bias == null ? null : precision.compute(bias);
        NDArray y;
        if (conv1d) {
            y = x.matMul(w);                                                         // (N, out)
            if (bs != null) {
                y = y.add(bs);
            }
        } else {
            y = bs == null ? ai.djl.nn.core.Linear.linear(x, w).singletonOrThrow()
                    : ai.djl.nn.core.Linear.linear(x, w, bs).singletonOrThrow();     // (N, out)
        }
        Adapter ad = adapter;
        if (ad != null) {
            NDArray a = precision.compute(ad.a);
            NDArray b = precision.compute(ad.b);
            NDArray low = conv1d ? x.matMul(a) : ai.djl.nn.core.Linear.linear(x, a).singletonOrThrow(); // (N, r)
            low = low.mul(precision.compute(ad.scale));
            y = y.add(conv1d ? low.matMul(b) : ai.djl.nn.core.Linear.linear(low, b).singletonOrThrow());
        }
        return y;
    }

    /** The adapter's update to the weight, in the weight's layout: scale·A·B (Conv1D) or scale·B·A (nn.Linear). */
    NDArray adapterDelta() {
        Adapter a = adapter;
        return (conv1d ? a.a.matMul(a.b) : a.b.matMul(a.a)).mul(a.scale);
    }
}
