package forge.model;

import ai.djl.ndarray.NDArray;

import java.util.Map;

/** The attention half of a {@link Block}. */
interface SelfAttention {
    /** x (B*T, C), pre-normalised → (B*T, C); {@code layer} indexes the cache. */
    NDArray forward(NDArray x, int layer, Pass p);

    /** Its linears by module path inside the block ("attn.c_attn", "self_attn.q_proj", ...), for LoRA. */
    Map<String, Linear> linears();

    /** softmax(q·kᵀ·scale + mask)·v with dropout on the weights: q (B, nh, T, d), k and v (B, nh, S, d). */
    static NDArray attend(NDArray q, NDArray k, NDArray v, NDArray mask, NDArray scale, double dropout,
                          boolean training) {
        NDArray att = q.matMul(k.transpose(0, 1, 3, 2)).mul(scale);                 // (B, nh, T, S)
        if (mask != null) {
            att = att.add(mask);
        }
        att = Dropouts.apply(att.softmax(-1), dropout, training);
        return att.matMul(v);                                                        // (B, nh, T, d)
    }
}
