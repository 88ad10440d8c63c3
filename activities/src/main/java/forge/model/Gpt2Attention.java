package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import forge.tensor.EngineArrays;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * GPT-2's causal self-attention (nanoGPT's CausalSelfAttention, HF GPT2Attention): one fused c_attn projection to
 * q, k and v, nh heads of C / nh, the output projection c_proj, dropout on the attention weights and the output.
 */
final class Gpt2Attention implements SelfAttention {
    private final Linear cAttn;
    private final Linear cProj;
    private final int nHead;
    private final int nEmbd;
    private final NDArray scale;            // 1/√hs as an engine scalar
    private final double dropout;

    Gpt2Attention(Linear cAttn, Linear cProj, GptConfig cfg, NDManager m) {
        this.cAttn = cAttn;
        this.cProj = cProj;
        this.nHead = cfg.nHead();
        this.nEmbd = cfg.nEmbd();
        this.scale = Gpt.keep(EngineArrays.scalar(m, 1.0 / Math.sqrt(cfg.headSize())));
        this.dropout = cfg.dropout();
    }

    /** x (B*T, C), pre-normalised → (B*T, C). */
    @Override
    public NDArray forward(NDArray x, int layer, Pass p) {
        long b = p.b();
        long t = p.t();
        long hs = nEmbd / nHead;
        NDList qkv = cAttn.forward(x, p.precision()).split(3, 1);                                  // 3 × (B*T, C)
        NDArray q = qkv.get(0).reshape(b, t, nHead, hs).transpose(0, 2, 1, 3);      // (B, nh, T, hs)
        NDArray k = qkv.get(1).reshape(b, t, nHead, hs).transpose(0, 2, 1, 3);      // (B, nh, T, hs)
        NDArray v = qkv.get(2).reshape(b, t, nHead, hs).transpose(0, 2, 1, 3);      // (B, nh, T, hs)
        if (p.cache() != null) {
            NDArray[] kv = p.cache().append(layer, k, v);
            k = kv[0];                                                               // (B, nh, past+T, hs)
            v = kv[1];                                                               // (B, nh, past+T, hs)
        }
        NDArray y = SelfAttention.attend(q, k, v, p, scale, dropout);                   // (B, nh, T, hs)
        y = y.transpose(0, 2, 1, 3).reshape(b * t, nEmbd);                           // (B*T, C)
        return Dropouts.apply(cProj.forward(y, p.precision()), dropout, p.training()); // (B*T, C)
    }

    @Override
    public Map<String, Linear> linears() {
        Map<String, Linear> m = new LinkedHashMap<>();
        m.put("attn.c_attn", cAttn);
        m.put("attn.c_proj", cProj);
        return m;
    }
}
