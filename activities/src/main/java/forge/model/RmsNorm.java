package forge.model;

import ai.djl.ndarray.NDArray;

/** Llama's RMSNorm: x / √(mean(x²) + eps) · weight, no centring and no bias (HF LlamaRMSNorm, in float32). */
final class RmsNorm implements Norm {
    private static final int[] LAST = {-1};
    private final NDArray weight;           // (C)
    private final NDArray eps;              // engine scalar: add(Number) would free it before backward reads it

    RmsNorm(NDArray weight, NDArray eps) {
        this.weight = weight;
        this.eps = eps;
    }

    @Override
    public NDArray forward(NDArray x) {
        NDArray rms = x.square().mean(LAST, true).add(eps).sqrt();                     // (N, 1)
        return x.div(rms).mul(weight);                                                 // (N, C)
    }
}
