package forge.model;

import ai.djl.ndarray.NDArray;

import java.util.Map;

/** The attention half of a {@link Block}. */
interface SelfAttention {
    /** x (B*T, C), pre-normalised → (B*T, C); {@code layer} indexes the cache. */
    NDArray forward(NDArray x, int layer, Pass p);

    /** Its linears by module path inside the block ("attn.c_attn", "self_attn.q_proj", ...), for LoRA. */
    Map<String, Linear> linears();

    /**
     * softmax(q·kᵀ·scale + mask)·v with dropout on the weights: q (B, nh, T, d), k and v (B, nh, S, d). Both
     * matmuls in the pass's compute dtype, the softmax in float32 (as autocast does).
     */
    static NDArray attend(NDArray q, NDArray k, NDArray v, Pass p, NDArray scale, double dropout) {
        Precision pr = p.precision();
        NDArray att = pr.compute(q).matMul(pr.compute(k).transpose(0, 1, 3, 2)).mul(scale); // (B, nh, T, S)
        att = Precision.full(att);
        if (p.mask() != null) {
            att = att.add(p.mask());
        }
        att = Dropouts.apply(att.softmax(-1), dropout, p.training());
        return pr.compute(att).matMul(pr.compute(v));                                 // (B, nh, T, d)
    }
}
