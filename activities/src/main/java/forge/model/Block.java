package forge.model;

import ai.djl.ndarray.NDArray;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One pre-norm transformer block, the same shape for every architecture: x + attn(norm₁(x)), then
 * x + mlp(norm₂(x)). GPT-2 fills it with LayerNorm, {@link Gpt2Attention} and {@link Mlp}; the Llama family with
 * RMSNorm, {@link Attention} and {@link SwiGluMlp}.
 */
final class Block {
    private final int index;
    private final Norm norm1;
    private final SelfAttention attn;
    private final Norm norm2;
    private final FeedForward mlp;

    Block(int index, Norm norm1, SelfAttention attn, Norm norm2, FeedForward mlp) {
        this.index = index;
        this.norm1 = norm1;
        this.attn = attn;
        this.norm2 = norm2;
        this.mlp = mlp;
    }

    /** x (B*T, C) → (B*T, C). */
    NDArray forward(NDArray x, Pass p) {
        x = x.add(attn.forward(norm1.forward(x), index, p));
        return x.add(mlp.forward(norm2.forward(x), p));
    }

    /** Every linear by module path inside the block, attention first. */
    Map<String, Linear> linears() {
        Map<String, Linear> all = new LinkedHashMap<>(attn.linears());
        all.putAll(mlp.linears());
        return all;
    }
}
