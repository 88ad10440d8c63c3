package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import ai.djl.training.GradientCollector;
import forge.errors.BadInputException;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.function.DoubleSupplier;
import java.util.function.Predicate;

/**
 * A decoder-only causal LM in the shape of nanoGPT's model.py and HF's modeling_llama.py: token embedding (plus
 * GPT-2's learned positions), a stack of pre-norm {@link Block}s, a final norm and the LM head, with an optional
 * scalar head on top. What the blocks are made of comes from the {@link Architecture} (GPT-2, Llama, Qwen2,
 * Mistral); parameters are plain NDArrays named and laid out as Hugging Face's model classes name them
 * ({@link HfNames} maps the rest), so {@link #snapshot()} loads into transformers.
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
 * LoRA run resumes exactly; {@link #mergeLora()} turns the model back into a plain one for export.
 *
 * <p>Autograd safety: between forward and backward, do not put the loss through DJL's Number overloads
 * ({@code loss.div(accumulationSteps)}): they free their scalar before backward reads it. Use
 * {@link EngineArrays#scale}. Not thread-safe; one model per thread.
 */
public final class Gpt implements AutoCloseable {
    private static final String SCORE = "score.weight";

    private final GptConfig config;
    private final Architecture arch;
    private final NDManager manager;
    private final LinkedHashMap<String, NDArray> params;
    private final NDArray tokenEmbedding;     // (V, C)
    private final NDArray positionEmbedding;  // (block, C) for GPT-2; null with rotary positions
    private final List<Block> blocks;
    private final Norm finalNorm;
    private final NDArray head;               // (V, C): the LM head, tied to tokenEmbedding or its own
    private final Rope rope;                  // null for GPT-2
    private final NDArray negInf;             // -inf scalar: the masks' value where attention is not allowed
    private NDArray causalMask;               // (n, n): 0 on and below the diagonal, -inf above; grown on demand

    private final LinkedHashMap<String, NDArray> loraParams = new LinkedHashMap<>(); // empty until addLora
    private LoraConfig lora;                  // null until addLora, and again after mergeLora
    private NDArray score;                    // score.weight (1, C), null until addScoreHead
    private Precision precision = Precision.FP32; // what the matmuls compute in; see setPrecision
    private DoubleSupplier lossScale;         // fp16's current loss scale, null when the loss is not scaled

    // ---------------------------------------------------------------------------------------------- construction

    /** A fresh model with its architecture's init, the same for the same seed on any engine. */
    public static Gpt create(NDManager parent, GptConfig cfg, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Architecture a = cfg.architecture();
        return new Gpt(parent, cfg, (name, shape) -> {
            float[] v = new float[(int) HostTensor.numel(shape)];
            double std = a.initStd(name, cfg);
            if (Double.isNaN(std)) {
                Arrays.fill(v, 1f);
            } else if (std > 0) {
                gaussian(rng, v, std);
            }
            return v;
        });
    }

    /**
     * A model holding these weights (internal or HF names, any float dtype the tensors come in; see {@link #load}),
     * without drawing an init first: a 500M-parameter checkpoint costs its weights once, not twice.
     */
    public static Gpt fromWeights(NDManager parent, GptConfig cfg, Map<String, HostTensor> weights) {
        Map<String, HostTensor> base = new LinkedHashMap<>(weights);
        HostTensor scoreHead = base.remove(SCORE);
        Map<String, HostTensor> byName = checkedWeights(cfg, parameterShapes(cfg), base);
        Gpt model = new Gpt(parent, cfg, (name, shape) -> byName.get(name).asF32().toFloatArray());
        if (scoreHead != null) {
            model.addScoreHead(0);
            if (!Arrays.equals(scoreHead.shape(), new long[] {1, cfg.nEmbd()})) {
                model.close();
                throw new BadInputException("checkpoint tensor " + SCORE + " has shape "
                        + Arrays.toString(scoreHead.shape()) + ", model expects [1, " + cfg.nEmbd() + "]");
            }
            EngineArrays.copyInto(model.score, scoreHead.asF32());
        }
        return model;
    }

    /** Names and shapes of every parameter, in the order of {@link #parameters()}. */
    public static LinkedHashMap<String, long[]> parameterShapes(GptConfig cfg) {
        return cfg.architecture().parameterShapes(cfg);
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

    private interface Values {
        float[] of(String name, long[] shape);
    }

    private Gpt(NDManager parent, GptConfig cfg, Values values) {
        this.config = cfg;
        this.arch = cfg.architecture();
        this.manager = parent.newSubManager();
        this.params = new LinkedHashMap<>();
        // One parameter at a time, so the host copy of a big model is never held whole.
        parameterShapes(cfg).forEach((name, shape) -> params.put(name, parameter(manager, name,
                values.of(name, shape), new Shape(shape))));
        this.tokenEmbedding = params.get(arch.tokenEmbedding());
        this.positionEmbedding = arch.positionEmbedding() == null ? null : params.get(arch.positionEmbedding());
        this.blocks = new ArrayList<>();
        for (int i = 0; i < cfg.nLayer(); i++) {
            blocks.add(arch.block(i, params, cfg, manager));
        }
        this.finalNorm = arch.finalNorm(params, cfg, manager);
        this.head = cfg.tiedEmbeddings() ? tokenEmbedding : params.get(arch.lmHead());
        this.rope = cfg.rope() == null ? null : new Rope(manager, cfg.rope(), cfg.headDim(), cfg.blockSize());
        this.negInf = keep(EngineArrays.scalar(manager, Double.NEGATIVE_INFINITY));
    }

    /** A trainable array in m, named, outside any NDScope. */
    static NDArray parameter(NDManager m, String name, float[] values, Shape shape) {
        NDArray p = keep(EngineArrays.of(m, values, shape));
        p.setName(name);
        p.setRequiresGradient(true);
        return p;
    }

    /** Model state must outlive whatever NDScope the caller happens to have open while building it. */
    static NDArray keep(NDArray a) {
        NDScope.unregister(a);
        return a;
    }

    NDManager manager() {
        return manager;
    }

    public GptConfig config() {
        return config;
    }

    /**
     * Every base array by name, in a fixed order (embeddings, blocks 0..n-1, final norm, untied LM head), frozen or
     * not, LoRA adapters and the score head not included (see {@link #loraParameters()}).
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
     * The final hidden states (B, T, C), after the final norm and before the LM head: the trunk that a scalar head
     * (reward model, value function) reads. Trains like {@link #forward(NDArray, boolean)}.
     */
    public NDArray hidden(NDArray idx, boolean training) {
        return forward(idx, null, null, null, null, training, Output.HIDDEN);
    }

    /**
     * The LM head over hidden states from {@link #hidden}: (B, T, C) → logits (B, T, V). With hidden it is
     * {@link #forward(NDArray, boolean)}, for a caller that also reads the trunk (a value head sharing it).
     */
    public NDArray lmHead(NDArray hidden) {
        return headLogits(hidden);
    }

    /** (..., C) → (..., V) float32: the head's matmul in the compute dtype, its logits widened for the loss. */
    private NDArray headLogits(NDArray x) {
        return Precision.full(precision.compute(x).matMul(precision.compute(head).transpose()));
    }

    /**
     * Makes every later forward compute its matmuls in p (see {@link Precision}); the parameters stay float32.
     * A stage sets it on the model it trains before the first step; FP32, the default, changes nothing.
     */
    public void setPrecision(Precision p) {
        setPrecision(p, null);
    }

    /**
     * {@link #setPrecision(Precision)} with the loss scale its backward runs under (fp16: the optimizer's
     * LossScaler, which unscales the gradients again), as torch.autocast and GradScaler travel together in a step.
     */
    public void setPrecision(Precision p, DoubleSupplier lossScale) {
        this.precision = p.requireRunnable("train.precision");
        this.lossScale = lossScale;
    }

    /**
     * What a training step hands to backward: the loss times the current loss scale under fp16, the loss itself
     * otherwise. Every stage's backward goes through this, so small fp16 gradients survive.
     */
    public NDArray scaleForBackward(NDArray loss) {
        return lossScale == null ? loss : EngineArrays.scale(loss, lossScale.getAsDouble());
    }

    public Precision precision() {
        return precision;
    }

    /** What the private forward returns. */
    private enum Output { LOGITS, LAST_LOGITS, HIDDEN }

    /**
     * Packed rows: several examples side by side in one row, none seeing another. idx (B, T) int64 as in
     * {@link #forward(NDArray, boolean)}; positions (B, T) integer, each token's position id inside its own example
     * (0, 1, ... restarting per example); segments (B, T) integer, which example a token belongs to (1, 2, ...; 0 on
     * padding) → logits (B, T, V). Position i attends to j only if {@code j <= i && segments[i] == segments[j]}, so
     * each example's logits are what it gets alone with positions 0.. (see {@code forge.stage.sft.SftBatch}). Padding
     * (segment 0) attends to earlier padding and itself, so every softmax row has a finite entry and no NaN reaches
     * the gradients; give it weight 0 in the loss.
     *
     * <p>Trains under a GradientCollector with dropout and LoRA exactly like the plain forward; costs an extra
     * (B, 1, T, T) mask and a per-token position gather, and checks the position range (one host sync) because an
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
     * One micro-batch's forward and backward with activation checkpointing per block (see {@link Checkpointing}):
     * only each block's input (B*T, C) is kept and each block is recomputed in backward, for about a third more
     * compute. Call under a GradientCollector instead of {@code forward} and {@code gc.backward}; the gradients
     * accumulate in the parameters as the plain backward's do. positions and segments are both null or both set, as
     * in the packed {@link #forward(NDArray, NDArray, NDArray, boolean)}; lossOf maps the logits (B, T, V) to the
     * scalar to differentiate (scaled for accumulation as the caller likes), which comes back detached.
     */
    public NDArray backwardCheckpointed(GradientCollector gc, NDArray idx, NDArray positions, NDArray segments,
                                        Function<NDArray, NDArray> lossOf) {
        if (config.dropout() > 0) {
            throw BadInputException.field("train.activation_checkpointing", "needs model.dropout 0 (a recomputed "
                    + "block would draw a second dropout mask), got " + config.dropout());
        }
        if ((positions == null) != (segments == null)) {
            throw new IllegalArgumentException("positions and segments are both null or both set");
        }
        return forward(idx, null, positions, segments, null, true, Output.LOGITS,
                new Checkpointing(blocks, gc, lossOf));
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

    /** The next-token logits (B, V) of each row, for {@link Generator}; leftPad as in the private forward. */
    NDArray lastLogits(NDArray idx, KvCache cache, int[] leftPad) {
        return forward(idx, cache, null, null, leftPad, false, Output.LAST_LOGITS);
    }

    /**
     * positions and segments are both null (contiguous positions, causal mask) or both set (packed, no cache).
     * leftPad, for inference only, gives each row's count of leading padding: row r's position ids start at 0 after
     * it, and no query sees its padding (see {@link #generateBatch}).
     */
    private NDArray forward(NDArray idx, KvCache cache, NDArray positions, NDArray segments, int[] leftPad,
                            boolean training, Output output) {
        return forward(idx, cache, positions, segments, leftPad, training, output, null);
    }

    /** ck non-null: the blocks run checkpointed and what comes back is ck's loss, backward done (see there). */
    private NDArray forward(NDArray idx, KvCache cache, NDArray positions, NDArray segments, int[] leftPad,
                            boolean training, Output output, Checkpointing ck) {
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
            NDArray posIds;                                                                      // (B, T) or null
            NDArray mask;
            int lastPosition = past + (int) t - 1;
            if (leftPad != null) {
                posIds = leftPadPositions(leftPad, past, t, idx.getManager());
                mask = leftPadMask(leftPad, past, t, idx.getManager());                         // (B, 1, T, past+T)
            } else if (positions == null) {
                posIds = null;
                // Row i may see keys 0 .. past+i; a single new token sees everything, so needs no mask.
                mask = t == 1 ? null : causal(past + (int) t).get(new NDIndex("{}:{}, :{}", past, past + t, past + t));
            } else {
                // Owned, as ids: embedding's backward reads the position ids too.
                posIds = positions.getDataType() == DataType.INT64 ? EngineArrays.owned(positions)
                        : positions.toType(DataType.INT64, false);
                long lo = posIds.min().getLong();
                long hi = posIds.max().getLong();
                if (lo < 0 || hi >= config.blockSize()) {
                    throw new IllegalArgumentException("positions must be in [0, " + config.blockSize()
                            + "), got " + lo + ".." + hi);
                }
                lastPosition = (int) hi;
                mask = packedMask(segments, b, t);                                             // (B, 1, T, T)
            }
            NDArray x = Embedding.embedding(ids, tokenEmbedding, SparseFormat.DENSE).singletonOrThrow(); // (B, T, C)
            if (positionEmbedding != null) {
                NDArray pos = posIds == null
                        ? positionEmbedding.get(new NDIndex("{}:{}", past, past + t))                   // (T, C)
                        : Embedding.embedding(posIds, positionEmbedding, SparseFormat.DENSE).singletonOrThrow();
                x = Dropouts.apply(x.add(pos), config.dropout(), training);
            }
            Rope.Angles angles = rope == null ? null : rope.angles(past, t, posIds, lastPosition);
            boolean causalOnly = leftPad == null && positions == null && past == 0 && mask != null;
            Pass pass = new Pass(b, t, past, mask, causalOnly, angles, cache, training, precision);
            x = x.reshape(b * t, c);                                                             // (B*T, C)
            for (Block block : ck != null ? List.<Block>of() : blocks) {
                // Each block's intermediates are freed as it returns (autograd keeps what backward needs), so the
                // forward's peak is what backward saves plus one block's working set, not every block's (about
                // twice the saved activations; BENCHMARKS.md, "Memory model").
                try (NDScope blockScope = new NDScope()) {
                    x = block.forward(x, pass);
                    NDScope.unregister(x);
                }
                NDScope.register(x);
            }
            if (ck != null) {
                x = ck.forward(x, pass);
            }
            x = finalNorm.forward(x);                                                            // (B*T, C)
            if (output == Output.LAST_LOGITS) {
                x = x.reshape(b, t, c).get(new NDIndex(":, -1, :"));                             // (B, C)
                t = 1;
            }
            logits = output == Output.HIDDEN ? x.reshape(b, t, c)                                // (B, T, C)
                    : headLogits(x).reshape(b, t, config.vocabSize());                          // (B, T, V)
            if (ck != null) {
                logits = ck.backward(logits, pass);
            }
            NDScope.unregister(logits);
        }
        if (cache != null) {
            cache.advance(shape.get(1));
        }
        return handOver(logits, idx.getManager());
    }

    /** The causal mask for n positions (at least), built once per size the model has needed. */
    private NDArray causal(int n) {
        if (causalMask != null && causalMask.getShape().get(0) >= n) {
            return causalMask;
        }
        int size = Math.min(config.blockSize(), Math.max(n, causalMask == null ? 0
                : (int) Math.min(config.blockSize(), 2 * causalMask.getShape().get(0))));
        float[] mask = new float[size * size];
        for (int i = 0; i < size; i++) {
            Arrays.fill(mask, i * size + i + 1, (i + 1) * size, Float.NEGATIVE_INFINITY);
        }
        NDArray grown = keep(EngineArrays.of(manager, mask, new Shape(size, size)));
        if (causalMask != null) {
            causalMask.close();
        }
        causalMask = grown;
        return grown;
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
        NDArray causal = causal((int) t).get(new NDIndex(":{}, :{}", t, t)).broadcast(b, t, t); // (B, T, T)
        return NDArrays.where(same, causal, negInf).expandDims(1);                      // (B, 1, T, T)
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
        return new Generator(this).generateBatch(prompts, opts, seed);
    }

    // ---------------------------------------------------------------------------------------------- fine-tuning

    /**
     * Adds a LoRA adapter to every targeted linear of every block (see {@link Lora#add}): the model computes exactly
     * what it did before. The adapters require gradients; freeze the base with {@link #freezeBase()} to train only
     * them. Targets the architecture does not have fail naming them.
     */
    public void addLora(LoraConfig cfg, long seed) {
        if (lora != null) {
            throw new IllegalStateException("this model already has LoRA adapters (" + lora + ")");
        }
        LoraConfig resolved = cfg.forArchitecture(arch);
        loraParams.putAll(Lora.add(blocks, arch, resolved, seed, manager));
        lora = resolved;
    }

    /** The adapters' config (targets resolved for this architecture), or null when the model has none. */
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
     * Freezes the bottom n blocks and, for n ≥ 1, the embeddings below them (the token embedding, GPT-2's position
     * embedding, blocks 0 .. n-1). A tied token embedding is also the LM head, so the output projection is frozen
     * with it; the final norm, an untied LM head and blocks n.. keep training. n = 0 freezes nothing. LoRA adapters
     * are never frozen by this.
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
            if (name.equals(arch.tokenEmbedding()) || name.equals(arch.positionEmbedding())) {
                return true;
            }
            for (int i = 0; i < n; i++) {
                if (name.startsWith(arch.blockPrefix(i))) {
                    return true;
                }
            }
            return false;
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
     * Folds every adapter into its weight and removes the adapters: afterwards the model is a plain one
     * (snapshot() has exactly the base names) computing the same function up to float rounding. Which base
     * parameters are frozen does not change. An optimizer built over the adapters must not be used again.
     */
    public void mergeLora() {
        if (lora == null) {
            throw new IllegalStateException("this model has no LoRA adapters to merge");
        }
        Lora.merge(blocks, arch, lora);
        loraParams.clear();
        lora = null;
    }

    // ---------------------------------------------------------------------------------------------- scalar head

    /**
     * Adds a scalar head on the final hidden states, HF ...ForSequenceClassification's {@code score.weight} (1, C),
     * no bias, drawn from N(0, 0.02²) with a Java RNG seeded by seed. A reward model reads it at a sequence's last
     * token; a value function at every token. Load the trunk's weights before adding it (a checkpoint written with
     * the head includes it, and then needs it added first).
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
        score = parameter(manager, SCORE, w, new Shape(1, config.nEmbd()));
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

    /** config.json for this model: the causal LM class, or ...ForSequenceClassification with one label. */
    public Map<String, Object> huggingFaceConfig() {
        Map<String, Object> m = config.toHuggingFaceConfig();
        if (score != null) {
            m.put("architectures", List.of(arch.sequenceClassificationClass()));
            m.put("num_labels", 1);
        }
        return m;
    }

    // ---------------------------------------------------------------------------------------------- state

    /**
     * A host copy of every parameter, by name in {@link #parameters()} order, followed by the LoRA adapters when the
     * model has them (so a LoRA run's checkpoint resumes exactly; {@link #mergeLora()} first for a plain model) and
     * the score head. Names are internal ({@link HfNames#toHf} gives transformers' names).
     */
    public LinkedHashMap<String, HostTensor> snapshot() {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        state().forEach((name, p) -> out.put(name, HostTensor.of(p)));
        return out;
    }

    /** Base parameters, then adapters, then the score head. */
    private LinkedHashMap<String, NDArray> state() {
        LinkedHashMap<String, NDArray> all = new LinkedHashMap<>(params);
        all.putAll(loraParams);
        if (score != null) {
            all.put(SCORE, score);
        }
        return all;
    }

    /**
     * Overwrites every parameter in place, LoRA adapters included: a model with adapters needs a checkpoint with
     * them (a missing lora_* tensor is an error naming it; load the base checkpoint before {@link #addLora}), and a
     * model without them rejects a checkpoint that has them. Names may be internal or Hugging Face's
     * ({@link HfNames#internalName}: HF's GPT-2 "transformer." prefix, a tied lm_head.weight and mask buffers are
     * taken care of); float16, bfloat16 and float64 tensors are converted to float32. Everything is checked before
     * anything is written.
     */
    public void load(Map<String, HostTensor> tensors) {
        LinkedHashMap<String, NDArray> all = state();
        LinkedHashMap<String, long[]> shapes = new LinkedHashMap<>();
        all.forEach((name, p) -> shapes.put(name, p.getShape().getShape()));
        Map<String, HostTensor> byName = checkedWeights(config, shapes, tensors);
        all.forEach((name, p) -> EngineArrays.copyInto(p, byName.get(name).asF32()));
    }

    /** tensors by internal name, each checked against shapes; every expected name present and no other. */
    private static Map<String, HostTensor> checkedWeights(GptConfig cfg, Map<String, long[]> shapes,
                                                          Map<String, HostTensor> tensors) {
        Map<String, HostTensor> byName = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            String name = HfNames.internalName(cfg, e.getKey());
            if (name != null) {
                byName.put(name, e.getValue());
            }
        }
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            String name = e.getKey();
            HostTensor t = byName.get(name);
            if (t == null) {
                throw new BadInputException("checkpoint is missing tensor " + name);
            }
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new BadInputException("checkpoint tensor " + name + " has shape " + Arrays.toString(t.shape())
                        + ", model expects " + Arrays.toString(e.getValue()));
            }
            if (!HostTensor.isFloat(t.dtype())) {
                throw new BadInputException("checkpoint tensor " + name + " has dtype " + t.dtype()
                        + ", model expects a float (F32, BF16, F16)");
            }
        }
        for (String name : byName.keySet()) {
            if (!shapes.containsKey(name)) {
                throw new BadInputException("checkpoint has tensor " + name + " that this model does not"
                        + (name.contains(".lora_") ? " (a LoRA checkpoint: add the same adapters first)"
                        : name.equals(SCORE) ? " (a reward model's score head: add it first)" : ""));
            }
        }
        return byName;
    }

    @Override
    public void close() {
        manager.close();
    }
}
