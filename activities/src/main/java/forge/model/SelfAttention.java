package forge.model;

import ai.djl.ndarray.NDArray;
import forge.tensor.TorchOps;

import java.util.Map;

/** The attention half of a {@link Block}. */
interface SelfAttention {
    /** x (B*T, C), pre-normalised → (B*T, C); {@code layer} indexes the cache. */
    NDArray forward(NDArray x, int layer, Pass p);

    /** Its linears by module path inside the block ("attn.c_attn", "self_attn.q_proj", ...), for LoRA. */
    Map<String, Linear> linears();

    /**
     * softmax(q·kᵀ·scale + mask)·v with dropout on the weights: q (B, nh, T, d), k and v (B, nh, S, d), scale 1/√d.
     * Without dropout it is torch's fused scaled_dot_product_attention on casts to the pass's compute dtype (as
     * autocast runs it); with dropout, or without the fused kernels, the two matmuls in the compute dtype around a
     * float32 softmax, whose weights the dropout mask is drawn for.
     */
    static NDArray attend(NDArray q, NDArray k, NDArray v, Pass p, NDArray scale, double dropout) {
        Precision pr = p.precision();
        if ((dropout == 0 || !p.training()) && TorchOps.available()) {
            NDArray mask = p.causal() || p.mask() == null ? null : pr.compute(p.mask());
            return TorchOps.attention(pr.compute(q), pr.compute(k), pr.compute(v), mask, p.causal()); // (B, nh, T, d)
        }
        NDArray att = pr.compute(q).matMul(pr.compute(k).transpose(0, 1, 3, 2)).mul(scale); // (B, nh, T, S)
        att = Precision.full(att);
        if (p.mask() != null) {
            att = att.add(p.mask());
        }
        att = Dropouts.apply(att.softmax(-1), dropout, p.training());
        return pr.compute(att).matMul(pr.compute(v));                                 // (B, nh, T, d)
    }
}
