package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * GPT-2 (HF GPT2LMHeadModel, nanoGPT): learned positions, LayerNorm, the fused c_attn, a GELU MLP, Conv1D weights
 * laid out (in, out), the LM head tied to wte. Parameter names are HF's without the "transformer." prefix.
 */
final class Gpt2Architecture implements Architecture {
    static final Gpt2Architecture INSTANCE = new Gpt2Architecture();
    private static final double INIT_STD = 0.02;

    private Gpt2Architecture() {
    }

    @Override
    public String name() {
        return GPT2;
    }

    @Override
    public boolean isGpt2() {
        return true;
    }

    @Override
    public boolean usesRope() {
        return false;
    }

    @Override
    public LinkedHashMap<String, long[]> parameterShapes(GptConfig cfg) {
        long c = cfg.nEmbd();
        long inner = cfg.intermediateSize();
        LinkedHashMap<String, long[]> s = new LinkedHashMap<>();
        s.put("wte.weight", new long[] {cfg.vocabSize(), c});
        s.put("wpe.weight", new long[] {cfg.blockSize(), c});
        for (int i = 0; i < cfg.nLayer(); i++) {
            String p = blockPrefix(i);
            norm(s, p + "ln_1", c, cfg.bias());
            conv1d(s, p + "attn.c_attn", c, 3 * c, cfg.bias());
            conv1d(s, p + "attn.c_proj", c, c, cfg.bias());
            norm(s, p + "ln_2", c, cfg.bias());
            conv1d(s, p + "mlp.c_fc", c, inner, cfg.bias());
            conv1d(s, p + "mlp.c_proj", inner, c, cfg.bias());
        }
        norm(s, "ln_f", c, cfg.bias());
        return s;
    }

    private static void norm(Map<String, long[]> s, String name, long c, boolean bias) {
        s.put(name + ".weight", new long[] {c});
        if (bias) {
            s.put(name + ".bias", new long[] {c});
        }
    }

    private static void conv1d(Map<String, long[]> s, String name, long in, long out, boolean bias) {
        s.put(name + ".weight", new long[] {in, out});
        if (bias) {
            s.put(name + ".bias", new long[] {out});
        }
    }

    /** GPT-2's init: N(0, 0.02), residual projections scaled by 1/√(2·n_layer), LayerNorm ones, biases zeros. */
    @Override
    public double initStd(String name, GptConfig cfg) {
        if (name.endsWith(".bias")) {
            return 0;
        }
        if (name.startsWith("ln_") || name.contains(".ln_")) {
            return Double.NaN;
        }
        return name.endsWith("c_proj.weight") ? INIT_STD / Math.sqrt(2.0 * cfg.nLayer()) : INIT_STD;
    }

    @Override
    public String tokenEmbedding() {
        return "wte.weight";
    }

    @Override
    public String positionEmbedding() {
        return "wpe.weight";
    }

    @Override
    public String lmHead() {
        return null;
    }

    @Override
    public String blockPrefix(int i) {
        return "h." + i + ".";
    }

    @Override
    public Block block(int i, Map<String, NDArray> p, GptConfig cfg, NDManager m) {
        String b = blockPrefix(i);
        return new Block(i, norm(p, b + "ln_1", cfg, m),
                new Gpt2Attention(linear(p, b + "attn.c_attn"), linear(p, b + "attn.c_proj"), cfg, m),
                norm(p, b + "ln_2", cfg, m),
                new Mlp(linear(p, b + "mlp.c_fc"), linear(p, b + "mlp.c_proj"), cfg.dropout(), m));
    }

    @Override
    public Norm finalNorm(Map<String, NDArray> p, GptConfig cfg, NDManager m) {
        return norm(p, "ln_f", cfg, m);
    }

    private static Linear linear(Map<String, NDArray> p, String module) {
        return new Linear(p.get(module + ".weight"), p.get(module + ".bias"), true);
    }

    /** Without biases (nanoGPT's bias=false) the LayerNorm gets zeros, which fused layerNorm needs. */
    private static Norm norm(Map<String, NDArray> p, String module, GptConfig cfg, NDManager m) {
        NDArray w = p.get(module + ".weight");
        NDArray b = p.get(module + ".bias");
        return new LayerNorm(w, b != null ? b : Gpt.keep(m.zeros(w.getShape())), cfg.normEps());
    }

    @Override
    public LinkedHashMap<String, String> loraTargets() {
        LinkedHashMap<String, String> t = new LinkedHashMap<>();
        t.put("c_attn", "attn.c_attn");
        t.put("attn.c_proj", "attn.c_proj");
        t.put("c_fc", "mlp.c_fc");
        t.put("mlp.c_proj", "mlp.c_proj");
        return t;
    }

    @Override
    public List<String> defaultLoraTargets() {
        return List.of("c_attn");
    }

    @Override
    public String causalLmClass() {
        return "GPT2LMHeadModel";
    }

    @Override
    public String sequenceClassificationClass() {
        return "GPT2ForSequenceClassification";
    }

    @Override
    public String hfBasePrefix() {
        return "transformer.";
    }

    @Override
    public Map<String, Object> huggingFaceConfig(GptConfig cfg) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_type", "gpt2");
        m.put("architectures", List.of(causalLmClass()));
        m.put("vocab_size", cfg.vocabSize());
        m.put("n_positions", cfg.blockSize());
        m.put("n_ctx", cfg.blockSize());
        m.put("n_embd", cfg.nEmbd());
        m.put("n_layer", cfg.nLayer());
        m.put("n_head", cfg.nHead());
        m.put("n_inner", cfg.intermediateSize());
        m.put("activation_function", "gelu_new");
        m.put("resid_pdrop", cfg.dropout());
        m.put("embd_pdrop", cfg.dropout());
        m.put("attn_pdrop", cfg.dropout());
        m.put("layer_norm_epsilon", cfg.normEps());
        m.put("initializer_range", INIT_STD);
        m.put("scale_attn_weights", true);
        m.put("tie_word_embeddings", true);
        m.put("torch_dtype", "float32");
        return m;
    }

    @Override
    public GptConfig readConfig(HfConfigFields f, Predicate<String> hasTensor) {
        String act = f.string("activation_function", "gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw f.fail("activation_function", "\"" + act + "\" is not supported (gelu_new, gelu_pytorch_tanh)");
        }
        f.onlyIf("scale_attn_weights", true, "attention is always scaled by 1/√head_size");
        f.onlyIf("scale_attn_by_inverse_layer_idx", false, "attention is not scaled by layer");
        f.onlyIf("add_cross_attention", false, "a decoder-only model has no cross-attention");
        f.onlyIf("tie_word_embeddings", true, "GPT-2's LM head is its token embedding");
        int nEmbd = f.requiredInt("n_embd");
        int nHead = f.requiredInt("n_head");
        if (nHead > 0 && nEmbd % nHead != 0) {
            throw f.fail("n_embd", nEmbd + " is not divisible by n_head (" + nHead + ")");
        }
        boolean bias = hasTensor.test("h.0.ln_1.bias");
        return new GptConfig(GPT2, f.requiredInt("vocab_size"), f.requiredInt("n_positions"),
                f.requiredInt("n_layer"), nHead, nHead, nEmbd, nHead > 0 ? nEmbd / nHead : 1,
                f.intOr("n_inner", 4 * nEmbd), f.doubleOr("resid_pdrop", 0.0), bias, bias,
                f.doubleOr("layer_norm_epsilon", GptConfig.GPT2_LAYER_NORM_EPS), true, null);
    }

    @Override
    public boolean ignoredHfTensor(String hfName) {
        return hfName.equals("lm_head.weight") || hfName.endsWith(".attn.bias") || hfName.endsWith(".attn.masked_bias");
    }
}
