package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import forge.tensor.EngineArrays;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Causal self-attention of the Llama family (Llama, Qwen2, Mistral; HF LlamaAttention): separate q/k/v/o projections
 * (Qwen2 with biases on q, k and v), rotary positions on q and k, and grouped-query attention — nKvHead key/value
 * heads, each shared by nHead / nKvHead query heads. The cache holds the nKvHead heads, before they are repeated.
 */
final class Attention implements SelfAttention {
    private final Linear q;
    private final Linear k;
    private final Linear v;
    private final Linear o;
    private final int nHead;
    private final int nKvHead;
    private final int headDim;
    private final NDArray scale;            // 1/√d as an engine scalar
    private final double dropout;

    Attention(Linear q, Linear k, Linear v, Linear o, GptConfig cfg, NDManager m) {
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.nHead = cfg.nHead();
        this.nKvHead = cfg.nKvHead();
        this.headDim = cfg.headDim();
        this.scale = Gpt.keep(EngineArrays.scalar(m, 1.0 / Math.sqrt(headDim)));
        this.dropout = cfg.dropout();
    }

    /** x (B*T, C), pre-normalised → (B*T, C). */
    @Override
    public NDArray forward(NDArray x, int layer, Pass p) {
        long b = p.b();
        long t = p.t();
        NDArray qh = heads(q.forward(x, p.precision()), b, t, nHead);                   // (B, nh, T, d)
        NDArray kh = heads(k.forward(x, p.precision()), b, t, nKvHead);                 // (B, nkv, T, d)
        NDArray vh = heads(v.forward(x, p.precision()), b, t, nKvHead);                 // (B, nkv, T, d)
        qh = Rope.apply(qh, p.angles());
        kh = Rope.apply(kh, p.angles());
        if (p.cache() != null) {
            NDArray[] kv = p.cache().append(layer, kh, vh);
            kh = kv[0];                                                                  // (B, nkv, past+T, d)
            vh = kv[1];
        }
        NDArray y = SelfAttention.attend(qh, repeat(kh), repeat(vh), p, scale, dropout);
        y = y.transpose(0, 2, 1, 3).reshape(b * t, (long) nHead * headDim);               // (B*T, nh*d)
        return o.forward(y, p.precision());                                              // (B*T, C)
    }

    private NDArray heads(NDArray x, long b, long t, int n) {
        return x.reshape(b, t, n, headDim).transpose(0, 2, 1, 3);                          // (B, n, T, d)
    }

    /** (B, nkv, S, d) → (B, nh, S, d): each key/value head serves nh / nkv query heads (HF's repeat_kv). */
    private NDArray repeat(NDArray kv) {
        int groups = nHead / nKvHead;
        if (groups == 1) {
            return kv;
        }
        long b = kv.getShape().get(0);
        long s = kv.getShape().get(2);
        return kv.expandDims(2).broadcast(b, nKvHead, groups, s, headDim)                 // (B, nkv, g, S, d)
                .reshape(b, nHead, s, headDim);                                          // (B, nh, S, d)
    }

    @Override
    public Map<String, Linear> linears() {
        Map<String, Linear> m = new LinkedHashMap<>();
        m.put("self_attn.q_proj", q);
        m.put("self_attn.k_proj", k);
        m.put("self_attn.v_proj", v);
        m.put("self_attn.o_proj", o);
        return m;
    }
}
