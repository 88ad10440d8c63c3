package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import forge.tensor.EngineArrays;

/**
 * Rotary position embedding as Hugging Face's Llama computes it: inverse frequencies θ^(−2i/d) (rescaled for
 * {@code linear} and {@code llama3}), angles position·freq, and x·cos + rotate_half(x)·sin with
 * {@code rotate_half(x) = cat(−x₂, x₁)} over the two halves of each head. The cos/sin tables are computed by torch
 * from float32 angles, as transformers does, and grown on demand (a 32k-context config never allocates 32k rows
 * for a 512-token fine-tune).
 */
final class Rope {
    private final NDManager manager;
    private final float[] invFreq;          // (d/2)
    private final int maxPositions;
    private NDArray cos;                    // (n, d): cos of cat(freqs, freqs)
    private NDArray sinSigned;              // (n, d): cat(−sin, sin), so rotate_half(x)·sin = swapHalves(x)·sinSigned
    private int rows;

    /** cos and sin for the positions of one forward, shaped to broadcast over (B, heads, T, d). */
    record Angles(NDArray cos, NDArray sinSigned) {
    }

    Rope(NDManager manager, RopeConfig cfg, int headDim, int maxPositions) {
        this.manager = manager;
        this.invFreq = inverseFrequencies(cfg, headDim);
        this.maxPositions = maxPositions;
    }

    /** HF's _compute_default_rope_parameters, then the linear or llama3 rescaling, in float32 as torch does it. */
    static float[] inverseFrequencies(RopeConfig cfg, int headDim) {
        int half = headDim / 2;
        float[] inv = new float[half];
        float base = (float) cfg.theta();
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / headDim;
            inv[i] = 1.0f / (float) Math.pow(base, exponent);
        }
        if (cfg.type().equals(RopeConfig.LINEAR)) {
            for (int i = 0; i < half; i++) {
                inv[i] /= (float) cfg.factor();
            }
        } else if (cfg.type().equals(RopeConfig.LLAMA3)) {
            float factor = (float) cfg.factor();
            float low = (float) cfg.lowFreqFactor();
            float high = (float) cfg.highFreqFactor();
            float old = cfg.originalContext();
            float lowWavelen = (float) (cfg.originalContext() / cfg.lowFreqFactor());
            float highWavelen = (float) (cfg.originalContext() / cfg.highFreqFactor());
            for (int i = 0; i < half; i++) {
                float wavelen = (float) (2 * Math.PI) / inv[i];
                float scaled = wavelen > lowWavelen ? inv[i] / factor : inv[i];    // long wavelengths: slowed down
                if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {      // in between: interpolated
                    float smooth = (old / wavelen - low) / (float) (cfg.highFreqFactor() - cfg.lowFreqFactor());
                    scaled = (1 - smooth) * scaled / factor + smooth * scaled;
                }
                inv[i] = scaled;
            }
        }
        return inv;
    }

    /**
     * The angles of positions past .. past+T (positions null), or of explicit position ids (B, T) int64 (left
     * padding, packed rows): (T, d) or (B, 1, T, d).
     */
    Angles angles(int past, long t, NDArray positions, int largestPosition) {
        ensure(largestPosition + 1);
        if (positions == null) {
            NDIndex rowsOf = new NDIndex("{}:{}", past, past + t);
            return new Angles(cos.get(rowsOf), sinSigned.get(rowsOf));                 // (T, d)
        }
        return new Angles(gather(positions, cos), gather(positions, sinSigned));        // (B, 1, T, d)
    }

    private static NDArray gather(NDArray positions, NDArray table) {
        return Embedding.embedding(positions, table, SparseFormat.DENSE).singletonOrThrow().expandDims(1);
    }

    /** x (B, heads, T, d) rotated: x·cos + rotate_half(x)·sin. */
    static NDArray apply(NDArray x, Angles a) {
        NDList halves = x.split(2, 3);                                                   // 2 × (B, h, T, d/2)
        NDArray swapped = NDArrays.concat(new NDList(halves.get(1), halves.get(0)), 3);  // (B, h, T, d)
        return x.mul(a.cos).add(swapped.mul(a.sinSigned));
    }

    private void ensure(int n) {
        if (n <= rows) {
            return;
        }
        int grown = Math.min(maxPositions, Math.max(n, Math.max(64, 2 * rows)));
        int half = invFreq.length;
        int d = 2 * half;
        float[] angles = new float[grown * d];
        for (int p = 0; p < grown; p++) {
            for (int i = 0; i < half; i++) {
                float f = p * invFreq[i];                       // float32, as HF's inv_freq @ position_ids
                angles[p * d + i] = f;
                angles[p * d + half + i] = f;
            }
        }
        NDArray newCos;
        NDArray newSin;
        try (NDScope scope = new NDScope()) {
            NDArray theta = EngineArrays.of(manager, angles, new Shape(grown, d));
            newCos = theta.cos();
            NDArray sin = theta.sin();
            NDList sinHalves = sin.split(2, 1);
            newSin = NDArrays.concat(new NDList(sinHalves.get(0).neg(), sinHalves.get(1)), 1);
            NDScope.unregister(newCos, newSin);
        }
        newCos.attach(manager);
        newSin.attach(manager);
        if (cos != null) {
            cos.close();
            sinSigned.close();
        }
        cos = newCos;
        sinSigned = newSin;
        rows = grown;
    }
}
