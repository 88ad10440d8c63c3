package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/** GPT-2's LayerNorm: (x − mean) / √(var + eps) · weight + bias, with zeros standing in for a missing bias. */
final class LayerNorm implements Norm {
    private final NDArray weight;           // (C)
    private final NDArray bias;             // (C); zeros when the model has no biases
    private final Shape shape;
    private final float eps;

    LayerNorm(NDArray weight, NDArray bias, double eps) {
        this.weight = weight;
        this.bias = bias;
        this.shape = weight.getShape();
        this.eps = (float) eps;
    }

    @Override
    public NDArray forward(NDArray x) {
        return ai.djl.nn.norm.LayerNorm.layerNorm(x, shape, weight, bias, eps).singletonOrThrow();
    }
}
