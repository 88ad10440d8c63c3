package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import forge.errors.BadInputException;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * A GPT-2 decoder in the shape of nanoGPT's model.py, with parameters as plain NDArrays named and laid out as
 * Hugging Face's GPT2Model (Conv1D weights are (in, out): y = x·W + b), so {@link #snapshot()} loads into
 * transformers as is.
 *
 * <p>Memory: parameters live in this model's manager. Each forward frees its own intermediates on return (autograd
 * keeps what backward needs) and its result is attached to the input's manager, so nothing accumulates in the model
 * even without a scope; callers should still wrap a training step in an {@code NDScope} to free the loss, the logits
 * and the gradient handles.
 *
 * <p>Randomness: weights come from a Java RNG (same seed, same weights on any engine); dropout and nothing else uses
 * the torch RNG, so a caller that wants steps to be reproducible — resume included — reseeds it before every
 * training forward with {@code Engine.getInstance().setRandomSeed(...)} derived from (seed, step, micro-step).
 *
 * <p>Fine-tuning: {@link #addLora} gives targeted linears a low-rank adapter (see {@link LoraConfig}),
 * {@link #freezeBase()} / {@link #freezeBlocks} / {@link #freeze} stop parameters from requiring gradients, and the
 * optimizer gets {@link #trainableParameters()}. {@link #snapshot()} and {@link #load} cover base and adapters, so a
 * LoRA run resumes exactly; {@link #mergeLora()} turns the model back into a plain GPT-2 for export.
 *
 * <p>Autograd safety: between forward and backward, do not put the loss through DJL's Number overloads
 * ({@code loss.div(accumulationSteps)}): they free their scalar before backward reads it. Use
 * {@link EngineArrays#scale}. Not thread-safe; one model per thread.
 */
public final class Gpt implements AutoCloseable {
    static final double LAYER_NORM_EPS = 1e-5;
    private static final double INIT_STD = 0.02;
    /** gelu_new(x) = 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) = x·sigmoid(x·(A + B·x²)). */
    private static final double GELU_A = 2 * Math.sqrt(2 / Math.PI);
    private static final double GELU_B = GELU_A * 0.044715;

    private final GptConfig config;
    private final NDManager manager;
    private final LinkedHashMap<String, NDArray> params;
    private final NDArray wte;                // (V, C), also the LM head
    private final NDArray wpe;                // (block, C)
    private final List<Layer> h;
    private final NDArray lnFW;
    private final NDArray lnFB;
    private final NDArray causalMask;         // (block, block): 0 on and below the diagonal, -inf above
    private final NDArray negInf;             // -inf scalar: the packed mask's value across examples
    private final NDArray noLnBias;           // zeros (C), stands in for LayerNorm bias when bias=false
    // Constants as libtorch-owned scalars: x.mul(Number) would leave autograd a dangling pointer (see EngineArrays).
    private final NDArray attnScale;          // 1/√hs
    private final NDArray geluA;
    private final NDArray geluB;

    private final LinkedHashMap<String, NDArray> loraParams = new LinkedHashMap<>(); // empty until addLora
    private LoraConfig lora;                  // null until addLora, and again after mergeLora
    private NDArray score;                    // score.weight (1, C), null until addScoreHead

    private record Layer(NDArray ln1W, NDArray ln1B, Linear attn, Linear attnProj, NDArray ln2W, NDArray ln2B,
                         Linear fc, Linear mlpProj) {
    }

    /** A Conv1D weight (in, out) and bias (out) or null, plus an optional low-rank adapter. */
    private static final class Linear {
        final NDArray w;
        final NDArray b;
        Adapter adapter;                      // null unless LoRA targets this linear

        Linear(NDArray w, NDArray b) {
            this.w = w;
            this.b = b;
        }
    }

    /** LoRA: A (in, r), B (r, out), scale = alpha / r as an engine scalar. */
    private record Adapter(NDArray a, NDArray b, NDArray scale) {
    }

    // ---------------------------------------------------------------------------------------------- construction

    /** A fresh model with GPT-2's init, the same for the same seed on any engine. */
    public static Gpt create(NDManager parent, GptConfig cfg, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double projStd = INIT_STD / Math.sqrt(2.0 * cfg.nLayer());
        LinkedHashMap<String, float[]> init = new LinkedHashMap<>();
        parameterShapes(cfg).forEach((name, shape) -> {
            float[] v = new float[(int) HostTensor.numel(shape)];
            if (name.endsWith(".bias")) {
                // zeros
            } else if (name.startsWith("ln_") || name.contains(".ln_")) {
                Arrays.fill(v, 1f);
            } else {
                gaussian(rng, v, name.endsWith("c_proj.weight") ? projStd : INIT_STD);
            }
            init.put(name, v);
        });
        return new Gpt(parent, cfg, init);
    }

    /** Names and shapes of every parameter, in the order of {@link #parameters()}. */
    public static LinkedHashMap<String, long[]> parameterShapes(GptConfig cfg) {
        long c = cfg.nEmbd();
        LinkedHashMap<String, long[]> s = new LinkedHashMap<>();
        s.put("wte.weight", new long[] {cfg.vocabSize(), c});
        s.put("wpe.weight", new long[] {cfg.blockSize(), c});
        for (int i = 0; i < cfg.nLayer(); i++) {
            String p = "h." + i + ".";
            layerNormShapes(s, p + "ln_1", c, cfg.bias());
            linearShapes(s, p + "attn.c_attn", c, 3 * c, cfg.bias());
            linearShapes(s, p + "attn.c_proj", c, c, cfg.bias());
            layerNormShapes(s, p + "ln_2", c, cfg.bias());
            linearShapes(s, p + "mlp.c_fc", c, 4 * c, cfg.bias());
            linearShapes(s, p + "mlp.c_proj", 4 * c, c, cfg.bias());
        }
        layerNormShapes(s, "ln_f", c, cfg.bias());
        return s;
    }

    private static void layerNormShapes(Map<String, long[]> s, String name, long c, boolean bias) {
        s.put(name + ".weight", new long[] {c});
        if (bias) {
            s.put(name + ".bias", new long[] {c});
        }
    }

    private static void linearShapes(Map<String, long[]> s, String name, long in, long out, boolean bias) {
        s.put(name + ".weight", new long[] {in, out});
        if (bias) {
            s.put(name + ".bias", new long[] {out});
        }
    }

    /** Box-Muller on our own RNG: java.util's gaussian algorithms are not promised to stay the same. */
    private static void gaussian(SplittableRandom rng, float[] out, double std) {
        for (int i = 0; i < out.length; i += 2) {
            double u1 = 1.0 - rng.nextDouble(); // (0, 1]: log stays finite
            double u2 = rng.nextDouble();
            double r = Math.sqrt(-2.0 * Math.log(u1)) * std;
            out[i] = (float) (r * Math.cos(2 * Math.PI * u2));
            if (i + 1 < out.length) {
                out[i + 1] = (float) (r * Math.sin(2 * Math.PI * u2));
            }
        }
    }

    private Gpt(NDManager parent, GptConfig cfg, LinkedHashMap<String, float[]> values) {
        this.config = cfg;
        this.manager = parent.newSubManager();
        this.params = new LinkedHashMap<>();
        parameterShapes(cfg).forEach((name, shape) -> {
            NDArray p = keep(EngineArrays.of(manager, values.get(name), new Shape(shape)));
            p.setName(name);
            p.setRequiresGradient(true);
            params.put(name, p);
        });
        this.wte = params.get("wte.weight");
        this.wpe = params.get("wpe.weight");
        this.h = new ArrayList<>();
        for (int i = 0; i < cfg.nLayer(); i++) {
            String p = "h." + i + ".";
            h.add(new Layer(params.get(p + "ln_1.weight"), params.get(p + "ln_1.bias"),
                    linearAt(p + "attn.c_attn"), linearAt(p + "attn.c_proj"),
                    params.get(p + "ln_2.weight"), params.get(p + "ln_2.bias"),
                    linearAt(p + "mlp.c_fc"), linearAt(p + "mlp.c_proj")));
        }
        this.lnFW = params.get("ln_f.weight");
        this.lnFB = params.get("ln_f.bias");
        int t = cfg.blockSize();
        float[] mask = new float[t * t];
        for (int i = 0; i < t; i++) {
            Arrays.fill(mask, i * t + i + 1, (i + 1) * t, Float.NEGATIVE_INFINITY);
        }
        this.causalMask = keep(EngineArrays.of(manager, mask, new Shape(t, t)));
        this.negInf = keep(EngineArrays.scalar(manager, Double.NEGATIVE_INFINITY));
        this.noLnBias = keep(manager.zeros(new Shape(cfg.nEmbd())));
        this.attnScale = keep(EngineArrays.scalar(manager, 1.0 / Math.sqrt(cfg.headSize())));
        this.geluA = keep(EngineArrays.scalar(manager, GELU_A));
        this.geluB = keep(EngineArrays.scalar(manager, GELU_B));
    }

    private Linear linearAt(String module) {
        return new Linear(params.get(module + ".weight"), params.get(module + ".bias"));
    }

    /** Model state must outlive whatever NDScope the caller happens to have open while building it. */
    private static NDArray keep(NDArray a) {
        NDScope.unregister(a);
        return a;
    }

    public GptConfig config() {
        return config;
    }

    /**
     * Every base (GPT-2) array by its HF GPT-2 name, in a fixed order (embeddings, blocks 0..n-1, ln_f), frozen or
     * not, LoRA adapters not included (see {@link #loraParameters()}).
     */
    public LinkedHashMap<String, NDArray> parameters() {
        return new LinkedHashMap<>(params);
    }

    // ---------------------------------------------------------------------------------------------- forward

    /**
     * idx (B, T) int64, T ≤ block_size → logits (B, T, V). Dropout is active only when training, and draws from
     * the torch RNG (see the class comment for the seeding contract). Run under a GradientCollector to train.
     */
    public NDArray forward(NDArray idx, boolean training) {
        return forward(idx, null, null, null, null, training, Output.LOGITS);
    }

    /**
     * The final hidden states (B, T, C), after ln_f and before the LM head: the trunk that a scalar head (reward
     * model, value function) reads. Trains like {@link #forward(NDArray, boolean)}.
     */
    public NDArray hidden(NDArray idx, boolean training) {
        return forward(idx, null, null, null, null, training, Output.HIDDEN);
    }

    /**
     * The tied LM head over hidden states from {@link #hidden}: (B, T, C) → logits (B, T, V). With hidden it is
     * {@link #forward(NDArray, boolean)}, for a caller that also reads the trunk (a value head sharing it).
     */
    public NDArray lmHead(NDArray hidden) {
        return hidden.matMul(wte.transpose());
    }

    /** What the private forward returns. */
    private enum Output { LOGITS, LAST_LOGITS, HIDDEN }

    /**
     * Packed rows: several examples side by side in one row, none seeing another. idx (B, T) int64 as in
     * {@link #forward(NDArray, boolean)}; positions (B, T) integer, each token's position id inside its own example
     * (0, 1, ... restarting per example), picked from wpe per token; segments (B, T) integer, which example a token
     * belongs to (1, 2, ...; 0 on padding) → logits (B, T, V). Position i attends to j only if
     * {@code j <= i && segments[i] == segments[j]}, so each example's logits are what it gets alone with positions
     * 0.. (see {@code forge.stage.sft.SftBatch}). Padding (segment 0) attends to earlier padding and itself, so every
     * softmax row has a finite entry and no NaN reaches the gradients; give it weight 0 in the loss.
     *
     * <p>Trains under a GradientCollector with dropout and LoRA exactly like the plain forward; costs an extra
     * (B, 1, T, T) mask and a per-token wpe gather, and checks the position range (one host sync) because an
     * out-of-range id would otherwise fail inside the engine.
     */
    public NDArray forward(NDArray idx, NDArray positions, NDArray segments, boolean training) {
        if (positions == null || segments == null) {
            throw new IllegalArgumentException("positions and segments are required; use forward(idx, training)");
        }
        Shape shape = idx.getShape();
        if (!positions.getShape().equals(shape) || !segments.getShape().equals(shape)) {
            throw new IllegalArgumentException("idx " + shape + ", positions " + positions.getShape()
                    + " and segments " + segments.getShape() + " must all be (B, T)");
        }
        return forward(idx, null, positions, segments, null, training, Output.LOGITS);
    }

    /**
     * Inference on top of a cache: idx (B, T) holds the tokens at positions cache.length() .. +T, their keys and
     * values are appended, and the logits (B, T, V) for those positions come back.
     */
    public NDArray forward(NDArray idx, KvCache cache) {
        if (cache == null) {
            throw new IllegalArgumentException("cache is null; use forward(idx, training)");
        }
        return forward(idx, cache, null, null, null, false, Output.LOGITS);
    }

    public KvCache newCache(int batch) {
        return new KvCache(manager, config.nLayer(), batch);
    }

    /**
     * positions and segments are both null (contiguous positions, causal mask) or both set (packed, no cache).
     * leftPad, for inference only, gives each row's count of leading padding: row r's position ids start at 0 after
     * it, and no query sees its padding (see {@link #generateBatch}).
     */
    private NDArray forward(NDArray idx, KvCache cache, NDArray positions, NDArray segments, int[] leftPad,
                            boolean training, Output output) {
        Shape shape = idx.getShape();
        if (shape.dimension() != 2) {
            throw new IllegalArgumentException("idx must be (B, T), got " + shape);
        }
        long b = shape.get(0);
        long t = shape.get(1);
        long c = config.nEmbd();
        int past = cache == null ? 0 : cache.length();
        if (t < 1 || past + t > config.blockSize()) {
            throw new IllegalArgumentException("cannot forward " + t + " tokens after " + past
                    + " cached ones: block_size is " + config.blockSize());
        }
        if (cache != null && cache.batch() != b) {
            throw new IllegalArgumentException("cache holds batch " + cache.batch() + ", idx has " + b);
        }
        NDArray logits;
        try (NDScope scope = new NDScope()) {
            // A copy libtorch owns: embedding's backward reads the ids after the caller may have closed idx.
            NDArray ids = idx.getDataType() == DataType.INT64 ? EngineArrays.owned(idx)
                    : idx.toType(DataType.INT64, false);
            NDArray tok = Embedding.embedding(ids, wte, SparseFormat.DENSE).singletonOrThrow();  // (B, T, C)
            NDArray pos;
            NDArray mask;
            if (leftPad != null) {
                pos = Embedding.embedding(leftPadPositions(leftPad, past, t, idx.getManager()), wpe,
                        SparseFormat.DENSE).singletonOrThrow();                                  // (B, T, C)
                mask = leftPadMask(leftPad, past, t, idx.getManager());                         // (B, 1, T, past+T)
            } else if (positions == null) {
                pos = wpe.get(new NDIndex("{}:{}", past, past + t));                            // (T, C)
                // Row i may see keys 0 .. past+i; a single new token sees everything, so needs no mask.
                mask = t == 1 ? null
                        : causalMask.get(new NDIndex("{}:{}, :{}", past, past + t, past + t));   // (T, past+T)
            } else {
                // Owned, as ids: embedding's backward reads the position ids too.
                NDArray posIds = positions.getDataType() == DataType.INT64 ? EngineArrays.owned(positions)
                        : positions.toType(DataType.INT64, false);
                long lo = posIds.min().getLong();
                long hi = posIds.max().getLong();
                if (lo < 0 || hi >= config.blockSize()) {
                    throw new IllegalArgumentException("positions must be in [0, " + config.blockSize()
                            + "), got " + lo + ".." + hi);
                }
                pos = Embedding.embedding(posIds, wpe, SparseFormat.DENSE).singletonOrThrow();   // (B, T, C)
                mask = packedMask(segments, b, t);                                             // (B, 1, T, T)
            }
            NDArray x = dropout(tok.add(pos), training).reshape(b * t, c);                      // (B*T, C)
            for (int i = 0; i < h.size(); i++) {
                Layer l = h.get(i);
                x = x.add(attention(l, i, layerNorm(x, l.ln1W, l.ln1B), b, t, mask, cache, training));
                x = x.add(mlp(l, layerNorm(x, l.ln2W, l.ln2B), training));
            }
            x = layerNorm(x, lnFW, lnFB);                                                        // (B*T, C)
            if (output == Output.LAST_LOGITS) {
                x = x.reshape(b, t, c).get(new NDIndex(":, -1, :"));                             // (B, C)
                t = 1;
            }
            logits = output == Output.HIDDEN ? x.reshape(b, t, c)                                // (B, T, C)
                    : x.matMul(wte.transpose()).reshape(b, t, config.vocabSize());              // (B, T, V)
            NDScope.unregister(logits);
        }
        if (cache != null) {
            cache.advance(shape.get(1));
        }
        return handOver(logits, idx.getManager());
    }

    /** Position ids (B, T) of absolute positions past .. past+T of left-padded rows: 0 at each row's first token. */
    private static NDArray leftPadPositions(int[] leftPad, int past, long t, NDManager m) {
        long[] ids = new long[leftPad.length * (int) t];
        for (int r = 0; r < leftPad.length; r++) {
            for (int i = 0; i < t; i++) {
                ids[r * (int) t + i] = Math.max(0, past + i - leftPad[r]);
            }
        }
        return m.create(ids, new Shape(leftPad.length, t));
    }

    /**
     * Query i of row r sees key j when {@code leftPad[r] <= j <= i}; a padding query sees only itself, so that no
     * softmax row is all -inf. Built on the host: (B, 1, T, past+T) is small when generating one token at a time.
     */
    private static NDArray leftPadMask(int[] leftPad, int past, long t, NDManager m) {
        int keys = past + (int) t;
        float[] mask = new float[leftPad.length * (int) t * keys];
        for (int r = 0; r < leftPad.length; r++) {
            for (int i = 0; i < t; i++) {
                int q = past + i;
                for (int j = 0; j < keys; j++) {
                    boolean visible = j <= q && (j >= leftPad[r] || j == q);
                    mask[(r * (int) t + i) * keys + j] = visible ? 0f : Float.NEGATIVE_INFINITY;
                }
            }
        }
        return EngineArrays.of(m, mask, new Shape(leftPad.length, 1, t, keys));
    }

    /**
     * The block-diagonal causal mask of packed rows: 0 where {@code j <= i && seg[i] == seg[j]}, -inf elsewhere.
     * The diagonal is always 0, so no softmax row is all -inf (padding, segment 0, sees earlier padding).
     */
    private NDArray packedMask(NDArray segments, long b, long t) {
        NDArray same = segments.expandDims(2).eq(segments.expandDims(1));                // (B, T, T) bool
        NDArray causal = causalMask.get(new NDIndex(":{}, :{}", t, t)).broadcast(b, t, t); // (B, T, T)
        return NDArrays.where(same, causal, negInf).expandDims(1);                      // (B, 1, T, T)
    }

    /** Causal multi-head self-attention; x is (B*T, C), pre-normalised; mask (T, past+T) or (B, 1, T, T). */
    private NDArray attention(Layer l, int layer, NDArray x, long b, long t, NDArray mask, KvCache cache,
                              boolean training) {
        long c = config.nEmbd();
        long nh = config.nHead();
        long hs = c / nh;
        NDList qkv = linear(x, l.attn).split(3, 1);                                 // 3 × (B*T, C)
        NDArray q = qkv.get(0).reshape(b, t, nh, hs).transpose(0, 2, 1, 3);         // (B, nh, T, hs)
        NDArray k = qkv.get(1).reshape(b, t, nh, hs).transpose(0, 2, 1, 3);         // (B, nh, T, hs)
        NDArray v = qkv.get(2).reshape(b, t, nh, hs).transpose(0, 2, 1, 3);         // (B, nh, T, hs)
        if (cache != null) {
            NDArray[] kv = cache.append(layer, k, v);
            k = kv[0];                                                               // (B, nh, past+T, hs)
            v = kv[1];                                                               // (B, nh, past+T, hs)
        }
        NDArray att = q.matMul(k.transpose(0, 1, 3, 2)).mul(attnScale);             // (B, nh, T, past+T)
        if (mask != null) {
            att = att.add(mask);
        }
        att = dropout(att.softmax(-1), training);
        NDArray y = att.matMul(v);                                                   // (B, nh, T, hs)
        y = y.transpose(0, 2, 1, 3).reshape(b * t, c);                               // (B*T, C)
        return dropout(linear(y, l.attnProj), training);                            // (B*T, C)
    }

    /** Position-wise MLP, 4× wide with GPT-2's tanh GELU; x is (B*T, C), pre-normalised. */
    private NDArray mlp(Layer l, NDArray x, boolean training) {
        NDArray u = linear(x, l.fc);                                                 // (B*T, 4C)
        u = Activation.sigmoid(u.square().mul(geluB).add(geluA).mul(u)).mul(u);     // gelu_new
        return dropout(linear(u, l.mlpProj), training);                             // (B*T, C)
    }

    private NDArray layerNorm(NDArray x, NDArray w, NDArray bias) {
        return LayerNorm.layerNorm(x, new Shape(config.nEmbd()), w, bias == null ? noLnBias : bias,
                (float) LAYER_NORM_EPS).singletonOrThrow();
    }

    /** HF Conv1D: x (N, in) · W (in, out) + b, plus scale·(x·A)·B where LoRA adapts this linear. */
    private static NDArray linear(NDArray x, Linear l) {
        NDArray y = x.matMul(l.w);                                                   // (N, out)
        if (l.b != null) {
            y = y.add(l.b);
        }
        Adapter a = l.adapter;
        if (a != null) {
            y = y.add(x.matMul(a.a).mul(a.scale).matMul(a.b));                       // (N, r) → (N, out)
        }
        return y;
    }

    private NDArray dropout(NDArray x, boolean training) {
        if (!training || config.dropout() == 0) {
            return x;
        }
        return Dropout.dropout(x, (float) config.dropout(), true).singletonOrThrow();
    }

    /**
     * Moves a result computed under a private scope to the caller: into the caller's manager, and into the
     * caller's own NDScope if one is open.
     */
    private static NDArray handOver(NDArray result, NDManager owner) {
        result.attach(owner);
        NDScope.register(result);
        return result;
    }

    // ---------------------------------------------------------------------------------------------- loss

    /**
     * Mean negative log-likelihood of targets (B, T) under logits (B, T, V), over the positions whose weight is 1.
     * weights (B, T) float 0/1, or null to count every position. All-zero weights give a loss of 0.
     */
    public static NDArray crossEntropy(NDArray logits, NDArray targets, NDArray weights) {
        NDArray loss;
        try (NDScope scope = new NDScope()) {
            // Owned copies: gather's and mul's backward read them after the caller may have closed the originals.
            NDArray ids = targets.getDataType() == DataType.INT64 ? EngineArrays.owned(targets)
                    : targets.toType(DataType.INT64, false);
            NDArray logp = logits.logSoftmax(-1);                                    // (B, T, V)
            NDArray nll = logp.gather(ids.expandDims(-1), -1).squeeze(-1).neg();     // (B, T)
            if (weights == null) {
                loss = nll.mean();
            } else {
                NDArray w = weights.getDataType() == DataType.FLOAT32 ? EngineArrays.owned(weights)
                        : weights.toType(DataType.FLOAT32, false);
                loss = nll.mul(w).sum().div(w.sum().maximum(EngineArrays.scalar(w.getManager(), 1e-12)));
            }
            NDScope.unregister(loss);
        }
        return handOver(loss, logits.getManager());
    }

    // ---------------------------------------------------------------------------------------------- generation

    /**
     * Continues prompt by up to maxNewTokens tokens and returns prompt followed by them (as nanoGPT's generate),
     * ending with stopToken if it was sampled. Sampling runs on the host with a Java RNG seeded from seed, so the
     * same seed gives the same tokens with or without the cache.
     *
     * <p>Past block_size the context is cropped to the last block_size tokens. Positions are absolute, so a full
     * cache cannot slide; from there on the cached path recomputes the cropped window each step, exactly what the
     * uncached path does.
     */
    public int[] generate(int[] prompt, GenerationOptions opts, long seed) {
        return generateBatch(new int[][] {prompt}, opts, seed)[0];
    }

    /**
     * {@link #generate} for several prompts in one batch. Row r samples with its own RNG seeded from seed + r, so it
     * gives what generate(prompts[r], opts, seed + r) gives, up to float rounding of the batched matmuls. Rows end
     * independently at stopToken.
     *
     * <p>Prompts of different lengths are left-padded to the longest: each row's positions start at 0 after its
     * padding and no token attends to padding, so one batched forward per new token serves every row. Where the
     * longest prompt plus maxNewTokens exceeds block_size the window would have to slide, which padding cannot;
     * those prompts are then generated in groups of equal length.
     */
    public int[][] generateBatch(int[][] prompts, GenerationOptions opts, long seed) {
        if (prompts.length == 0) {
            throw BadInputException.field("generate.prompt", "needs at least one prompt");
        }
        int maxLen = 0;
        for (int[] prompt : prompts) {
            if (prompt.length == 0) {
                throw BadInputException.field("generate.prompt", "prompts must be non-empty");
            }
            for (int tokenId : prompt) {
                if (tokenId < 0 || tokenId >= config.vocabSize()) {
                    throw BadInputException.field("generate.prompt",
                            "token " + tokenId + " is outside the vocabulary [0, " + config.vocabSize() + ")");
                }
            }
            maxLen = Math.max(maxLen, prompt.length);
        }
        long[] seeds = new long[prompts.length];
        for (int r = 0; r < prompts.length; r++) {
            seeds[r] = seed + r;
        }
        boolean ragged = Arrays.stream(prompts).anyMatch(p -> p.length != prompts[0].length);
        if (!ragged || maxLen + opts.maxNewTokens() <= config.blockSize()) {
            return generateRows(prompts, opts, seeds);
        }
        Map<Integer, List<Integer>> byLength = new TreeMap<>();
        for (int r = 0; r < prompts.length; r++) {
            byLength.computeIfAbsent(prompts[r].length, k -> new ArrayList<>()).add(r);
        }
        int[][] out = new int[prompts.length][];
        for (List<Integer> group : byLength.values()) {
            int[][] rows = generateRows(group.stream().map(r -> prompts[r]).toArray(int[][]::new), opts,
                    group.stream().mapToLong(r -> seeds[r]).toArray());
            for (int i = 0; i < rows.length; i++) {
                out[group.get(i)] = rows[i];
            }
        }
        return out;
    }

    /** Rows of equal length, or left-padded ones that fit block_size with all their new tokens. */
    private int[][] generateRows(int[][] prompts, GenerationOptions opts, long[] seeds) {
        int rows = prompts.length;
        int v = config.vocabSize();
        int len = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElseThrow();
        int[] pad = new int[rows];
        boolean ragged = false;
        SplittableRandom[] rngs = new SplittableRandom[rows];
        int[][] buf = new int[rows][];
        int[] ends = new int[rows];
        for (int r = 0; r < rows; r++) {
            rngs[r] = new SplittableRandom(seeds[r]);
            pad[r] = len - prompts[r].length;
            ragged |= pad[r] > 0;
            buf[r] = new int[len + opts.maxNewTokens()];
            System.arraycopy(prompts[r], 0, buf[r], pad[r], prompts[r].length);
            ends[r] = -1;
        }
        int[] leftPad = ragged ? pad : null;
        int n = len;
        int running = rows;
        try (NDManager m = manager.newSubManager();
             KvCache cache = opts.useKvCache() ? newCache(rows) : null) {
            while (n < len + opts.maxNewTokens() && running > 0) {
                float[] logits;
                try (NDScope scope = new NDScope()) {
                    logits = nextTokenLogits(m, buf, n, cache, leftPad);                 // (rows·V)
                }
                for (int r = 0; r < rows; r++) {
                    if (ends[r] >= 0) {
                        buf[r][n] = buf[r][n - 1]; // finished rows ride along; cut off below
                        continue;
                    }
                    int next = Sampler.sample(Arrays.copyOfRange(logits, r * v, (r + 1) * v), opts, rngs[r]);
                    buf[r][n] = next;
                    if (next == opts.stopToken()) {
                        ends[r] = n + 1;
                        running--;
                    }
                }
                n++;
            }
        }
        int[][] out = new int[rows][];
        for (int r = 0; r < rows; r++) {
            out[r] = Arrays.copyOfRange(buf[r], pad[r], ends[r] >= 0 ? ends[r] : n);
        }
        return out;
    }

    /** Logits (rows·V) for the token after tokens[r][0..n) of every row. */
    private float[] nextTokenLogits(NDManager m, int[][] tokens, int n, KvCache cache, int[] leftPad) {
        int from;
        if (cache != null && cache.length() > 0 && cache.length() == n - 1 && n <= config.blockSize()) {
            from = n - 1;
        } else {
            // Left-padded rows always fit (generateBatch sees to it), so their window never slides.
            from = Math.max(0, n - config.blockSize());
            if (cache != null) {
                cache.clear();
            }
        }
        int w = n - from;
        long[] window = new long[tokens.length * w];
        for (int r = 0; r < tokens.length; r++) {
            for (int i = 0; i < w; i++) {
                window[r * w + i] = tokens[r][from + i];
            }
        }
        NDArray idx = m.create(window, new Shape(tokens.length, w));
        return forward(idx, cache, null, null, leftPad, false, Output.LAST_LOGITS).toFloatArray();
    }

    // ---------------------------------------------------------------------------------------------- fine-tuning

    /**
     * Adds a LoRA adapter to every targeted linear of every block: h.{i}.{module}.lora_A (in, r), drawn uniformly
     * from ±1/√in (PEFT's kaiming_uniform(a=√5)) with a Java RNG seeded by seed, and h.{i}.{module}.lora_B (r, out),
     * zeros, so the model computes exactly what it did before. The adapters require gradients; freeze the base with
     * {@link #freezeBase()} to train only them.
     *
     * <p>Names follow PEFT's (module path + lora_A / lora_B) but the layout is GPT-2 Conv1D's (in, out): PEFT's
     * lora_A.weight is (r, in) and lora_B.weight (out, r), the transposes of these.
     */
    public void addLora(LoraConfig cfg, long seed) {
        if (lora != null) {
            throw new IllegalStateException("this model already has LoRA adapters (" + lora + ")");
        }
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < h.size(); i++) {
            for (String module : cfg.modules()) {
                Linear l = linearOf(h.get(i), module);
                long in = l.w.getShape().get(0);
                long out = l.w.getShape().get(1);
                float[] a = new float[Math.toIntExact(in * cfg.rank())];
                double bound = 1 / Math.sqrt(in);
                for (int j = 0; j < a.length; j++) {
                    a[j] = (float) ((2 * rng.nextDouble() - 1) * bound);
                }
                String name = "h." + i + "." + module + ".lora_";
                NDArray aArr = newParameter(name + "A", a, new Shape(in, cfg.rank()));
                NDArray bArr = newParameter(name + "B", new float[Math.toIntExact(cfg.rank() * out)],
                        new Shape(cfg.rank(), out));
                loraParams.put(name + "A", aArr);
                loraParams.put(name + "B", bArr);
                l.adapter = new Adapter(aArr, bArr, keep(EngineArrays.scalar(manager, cfg.scale())));
            }
        }
        lora = cfg;
    }

    private NDArray newParameter(String name, float[] values, Shape shape) {
        NDArray p = keep(EngineArrays.of(manager, values, shape));
        p.setName(name);
        p.setRequiresGradient(true);
        return p;
    }

    private static Linear linearOf(Layer l, String module) {
        return switch (module) {
            case "attn.c_attn" -> l.attn;
            case "attn.c_proj" -> l.attnProj;
            case "mlp.c_fc" -> l.fc;
            case "mlp.c_proj" -> l.mlpProj;
            default -> throw new IllegalArgumentException("no linear " + module + " in a block");
        };
    }

    /** The adapters' config, or null when the model has none. */
    public LoraConfig lora() {
        return lora;
    }

    /** The LoRA adapters by name (block by block, lora_A before lora_B), empty without LoRA. */
    public LinkedHashMap<String, NDArray> loraParameters() {
        return new LinkedHashMap<>(loraParams);
    }

    /**
     * Stops training every parameter, base or adapter, whose name matches: it no longer requires a gradient, so
     * backward neither computes nor stores one for it, and {@link #trainableParameters()} leaves it out. Freeze
     * before building the optimizer (AdamW refuses parameters without gradients) and before the first backward (a
     * gradient already accumulated would stay allocated). There is no unfreeze.
     */
    public void freeze(Predicate<String> frozen) {
        state().forEach((name, p) -> {
            if (frozen.test(name)) {
                p.setRequiresGradient(false);
            }
        });
    }

    /**
     * Freezes the bottom n blocks and, for n ≥ 1, the embeddings below them: wte, wpe and h.0 .. h.{n-1}. wte is
     * also the (tied) LM head, so the output projection is frozen with it; ln_f and blocks n.. keep training.
     * n = 0 freezes nothing. LoRA adapters are never frozen by this.
     */
    public void freezeBlocks(int n) {
        if (n < 0 || n > config.nLayer()) {
            throw new BadInputException("cannot freeze " + n + " blocks: the model has " + config.nLayer());
        }
        if (n == 0) {
            return;
        }
        freeze(name -> {
            if (name.contains(".lora_")) {
                return false;
            }
            if (name.startsWith("wte.") || name.startsWith("wpe.")) {
                return true;
            }
            if (!name.startsWith("h.")) {
                return false;
            }
            int block = Integer.parseInt(name.substring(2, name.indexOf('.', 2)));
            return block < n;
        });
    }

    /** Freezes every base parameter, leaving only LoRA adapters (if any) to train. */
    public void freezeBase() {
        freeze(params::containsKey);
    }

    /**
     * What the optimizer should get: every parameter (base, then adapters) that still requires a gradient, in
     * {@link #snapshot()} order.
     */
    public LinkedHashMap<String, NDArray> trainableParameters() {
        LinkedHashMap<String, NDArray> out = new LinkedHashMap<>();
        state().forEach((name, p) -> {
            if (p.hasGradient()) {
                out.put(name, p);
            }
        });
        return out;
    }

    /**
     * Folds every adapter into its weight, W ← W + scale·A·B, and removes the adapters: afterwards the model is a
     * plain GPT-2 (snapshot() has exactly the base names) computing the same function up to float rounding. Which
     * base parameters are frozen does not change. An optimizer built over the adapters must not be used again.
     */
    public void mergeLora() {
        if (lora == null) {
            throw new IllegalStateException("this model has no LoRA adapters to merge");
        }
        for (Layer layer : h) {
            for (String module : lora.modules()) {
                Linear l = linearOf(layer, module);
                Adapter a = l.adapter;
                HostTensor merged;
                try (NDScope scope = new NDScope()) {
                    merged = HostTensor.of(l.w.add(a.a.matMul(a.b).mul(a.scale)));           // (in, out)
                }
                EngineArrays.copyInto(l.w, merged);
                l.adapter = null;
                a.a.close();
                a.b.close();
                a.scale.close();
            }
        }
        loraParams.clear();
        lora = null;
    }

    // ---------------------------------------------------------------------------------------------- scalar head

    /**
     * Adds a scalar head on the final hidden states, HF GPT2ForSequenceClassification's {@code score.weight}
     * (1, C), no bias, drawn from N(0, 0.02²) with a Java RNG seeded by seed. A reward model reads it at a sequence's
     * last token; a value function at every token. Load the trunk's weights before adding it (a checkpoint written
     * with the head includes it, and then needs it added first).
     */
    public void addScoreHead(long seed) {
        if (score != null) {
            throw new IllegalStateException("this model already has a score head");
        }
        SplittableRandom rng = new SplittableRandom(seed);
        float[] w = new float[config.nEmbd()];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (rng.nextGaussian() * 0.02);
        }
        score = newParameter("score.weight", w, new Shape(1, config.nEmbd()));
    }

    public boolean hasScoreHead() {
        return score != null;
    }

    /** idx (B, T) → the score head at every position (B, T). Trains like {@link #forward(NDArray, boolean)}. */
    public NDArray scores(NDArray idx, boolean training) {
        if (score == null) {
            throw new IllegalStateException("this model has no score head; addScoreHead first");
        }
        return hidden(idx, training).matMul(score.transpose()).squeeze(-1);             // (B, T, C) → (B, T)
    }

    /** config.json for this model: GPT2LMHeadModel, or GPT2ForSequenceClassification with one label. */
    public Map<String, Object> huggingFaceConfig() {
        Map<String, Object> m = config.toHuggingFaceConfig();
        if (score != null) {
            m.put("architectures", List.of("GPT2ForSequenceClassification"));
            m.put("num_labels", 1);
        }
        return m;
    }

    // ---------------------------------------------------------------------------------------------- state

    /**
     * A host copy of every parameter, by name in {@link #parameters()} order, followed by the LoRA adapters when the
     * model has them (so a LoRA run's checkpoint resumes exactly; {@link #mergeLora()} first for a plain GPT-2).
     */
    public LinkedHashMap<String, HostTensor> snapshot() {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        state().forEach((name, p) -> out.put(name, HostTensor.of(p)));
        return out;
    }

    /** Base parameters, then adapters. */
    private LinkedHashMap<String, NDArray> state() {
        LinkedHashMap<String, NDArray> all = new LinkedHashMap<>(params);
        all.putAll(loraParams);
        if (score != null) {
            all.put("score.weight", score);
        }
        return all;
    }

    /**
     * Overwrites every parameter in place, LoRA adapters included: a model with adapters needs a checkpoint with
     * them (a missing lora_* tensor is an error naming it; load the base checkpoint before {@link #addLora}), and a
     * model without them rejects a checkpoint that has them. Names may carry HF's "transformer." prefix; HF's tied
     * lm_head.weight and attention mask buffers are ignored. Everything is checked before anything is written.
     */
    public void load(Map<String, HostTensor> tensors) {
        LinkedHashMap<String, NDArray> all = state();
        Map<String, HostTensor> byName = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            String name = e.getKey().startsWith("transformer.") ? e.getKey().substring(12) : e.getKey();
            if (name.equals("lm_head.weight") || name.endsWith(".attn.bias") && !all.containsKey(name)
                    || name.endsWith(".attn.masked_bias")) {
                continue;
            }
            byName.put(name, e.getValue());
        }
        for (Map.Entry<String, NDArray> e : all.entrySet()) {
            String name = e.getKey();
            HostTensor t = byName.get(name);
            if (t == null) {
                throw new BadInputException("checkpoint is missing tensor " + name);
            }
            long[] expected = e.getValue().getShape().getShape();
            if (!Arrays.equals(t.shape(), expected)) {
                throw new BadInputException("checkpoint tensor " + name + " has shape " + Arrays.toString(t.shape())
                        + ", model expects " + Arrays.toString(expected));
            }
            if (!t.dtype().equals("F32")) {
                throw new BadInputException("checkpoint tensor " + name + " has dtype " + t.dtype()
                        + ", model expects F32");
            }
        }
        for (String name : byName.keySet()) {
            if (!all.containsKey(name)) {
                throw new BadInputException("checkpoint has tensor " + name + " that this model does not"
                        + (name.contains(".lora_") ? " (a LoRA checkpoint: add the same adapters first)" : ""));
            }
        }
        all.forEach((name, p) -> EngineArrays.copyInto(p, byName.get(name)));
    }

    @Override
    public void close() {
        manager.close();
    }
}
