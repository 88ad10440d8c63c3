package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import forge.tensor.EngineArrays;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The Llama family (HF LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM): token embedding only, RMSNorm,
 * rotary positions, grouped-query attention with separate q/k/v/o projections, a SwiGLU MLP, nn.Linear weights laid
 * out (out, in), and an LM head that may or may not be tied. The three differ in biases: Llama's attention_bias puts
 * them on q, k, v and o; Qwen2 always has them on q, k and v and never on o; Mistral has none. Sliding-window
 * attention (Mistral v0.1, Qwen2 with use_sliding_window) is refused: within its window it is plain causal
 * attention, but this code does not implement the window.
 */
final class LlamaArchitecture implements Architecture {
    static final LlamaArchitecture LLAMA = new LlamaArchitecture(Architecture.LLAMA, "LlamaForCausalLM",
            "LlamaForSequenceClassification");
    static final LlamaArchitecture QWEN2 = new LlamaArchitecture(Architecture.QWEN2, "Qwen2ForCausalLM",
            "Qwen2ForSequenceClassification");
    static final LlamaArchitecture MISTRAL = new LlamaArchitecture(Architecture.MISTRAL, "MistralForCausalLM",
            "MistralForSequenceClassification");
    private static final double INIT_STD = 0.02;

    private final String name;
    private final String causalLm;
    private final String sequenceClassification;

    private LlamaArchitecture(String name, String causalLm, String sequenceClassification) {
        this.name = name;
        this.causalLm = causalLm;
        this.sequenceClassification = sequenceClassification;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public boolean usesRope() {
        return true;
    }

    private boolean qkvBias(GptConfig c) {
        return this == QWEN2 || c.bias();
    }

    private boolean oBias(GptConfig c) {
        return this != QWEN2 && c.bias();
    }

    @Override
    public LinkedHashMap<String, long[]> parameterShapes(GptConfig cfg) {
        long c = cfg.nEmbd();
        long q = (long) cfg.nHead() * cfg.headDim();
        long kv = (long) cfg.nKvHead() * cfg.headDim();
        long inner = cfg.intermediateSize();
        LinkedHashMap<String, long[]> s = new LinkedHashMap<>();
        s.put(tokenEmbedding(), new long[] {cfg.vocabSize(), c});
        for (int i = 0; i < cfg.nLayer(); i++) {
            String p = blockPrefix(i);
            s.put(p + "input_layernorm.weight", new long[] {c});
            linear(s, p + "self_attn.q_proj", c, q, qkvBias(cfg));
            linear(s, p + "self_attn.k_proj", c, kv, qkvBias(cfg));
            linear(s, p + "self_attn.v_proj", c, kv, qkvBias(cfg));
            linear(s, p + "self_attn.o_proj", q, c, oBias(cfg));
            s.put(p + "post_attention_layernorm.weight", new long[] {c});
            linear(s, p + "mlp.gate_proj", c, inner, cfg.mlpBias());
            linear(s, p + "mlp.up_proj", c, inner, cfg.mlpBias());
            linear(s, p + "mlp.down_proj", inner, c, cfg.mlpBias());
        }
        s.put("model.norm.weight", new long[] {c});
        if (!cfg.tiedEmbeddings()) {
            s.put(lmHead(), new long[] {cfg.vocabSize(), c});
        }
        return s;
    }

    private static void linear(Map<String, long[]> s, String name, long in, long out, boolean bias) {
        s.put(name + ".weight", new long[] {out, in});
        if (bias) {
            s.put(name + ".bias", new long[] {out});
        }
    }

    /** HF's _init_weights for the family: N(0, initializer_range) for linears and embeddings, norms ones. */
    @Override
    public double initStd(String name, GptConfig cfg) {
        if (name.endsWith(".bias")) {
            return 0;
        }
        if (name.endsWith("layernorm.weight") || name.equals("model.norm.weight")) {
            return Double.NaN;
        }
        return INIT_STD;
    }

    @Override
    public String tokenEmbedding() {
        return "model.embed_tokens.weight";
    }

    @Override
    public String positionEmbedding() {
        return null;
    }

    @Override
    public String lmHead() {
        return "lm_head.weight";
    }

    @Override
    public String blockPrefix(int i) {
        return "model.layers." + i + ".";
    }

    @Override
    public Block block(int i, Map<String, NDArray> p, GptConfig cfg, NDManager m) {
        String b = blockPrefix(i);
        NDArray eps = Gpt.keep(EngineArrays.scalar(m, cfg.normEps()));
        return new Block(i, new RmsNorm(p.get(b + "input_layernorm.weight"), eps),
                new Attention(linear(p, b + "self_attn.q_proj"), linear(p, b + "self_attn.k_proj"),
                        linear(p, b + "self_attn.v_proj"), linear(p, b + "self_attn.o_proj"), cfg, m),
                new RmsNorm(p.get(b + "post_attention_layernorm.weight"), eps),
                new SwiGluMlp(linear(p, b + "mlp.gate_proj"), linear(p, b + "mlp.up_proj"),
                        linear(p, b + "mlp.down_proj")));
    }

    @Override
    public Norm finalNorm(Map<String, NDArray> p, GptConfig cfg, NDManager m) {
        return new RmsNorm(p.get("model.norm.weight"), Gpt.keep(EngineArrays.scalar(m, cfg.normEps())));
    }

    private static Linear linear(Map<String, NDArray> p, String module) {
        return new Linear(p.get(module + ".weight"), p.get(module + ".bias"), false);
    }

    @Override
    public LinkedHashMap<String, String> loraTargets() {
        LinkedHashMap<String, String> t = new LinkedHashMap<>();
        for (String proj : List.of("q_proj", "k_proj", "v_proj", "o_proj")) {
            t.put(proj, "self_attn." + proj);
        }
        for (String proj : List.of("gate_proj", "up_proj", "down_proj")) {
            t.put(proj, "mlp." + proj);
        }
        return t;
    }

    @Override
    public List<String> defaultLoraTargets() {
        return List.of("q_proj", "v_proj");
    }

    @Override
    public String causalLmClass() {
        return causalLm;
    }

    @Override
    public String sequenceClassificationClass() {
        return sequenceClassification;
    }

    @Override
    public String hfBasePrefix() {
        return "model.";
    }

    @Override
    public Map<String, Object> huggingFaceConfig(GptConfig cfg) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_type", name);
        m.put("architectures", List.of(causalLm));
        m.put("vocab_size", cfg.vocabSize());
        m.put("hidden_size", cfg.nEmbd());
        m.put("intermediate_size", cfg.intermediateSize());
        m.put("num_hidden_layers", cfg.nLayer());
        m.put("num_attention_heads", cfg.nHead());
        m.put("num_key_value_heads", cfg.nKvHead());
        m.put("head_dim", cfg.headDim());
        m.put("max_position_embeddings", cfg.blockSize());
        m.put("hidden_act", "silu");
        m.put("rms_norm_eps", cfg.normEps());
        m.put("rope_theta", cfg.rope().theta());
        m.put("rope_scaling", ropeScaling(cfg.rope()));
        m.put("tie_word_embeddings", cfg.tiedEmbeddings());
        m.put("attention_dropout", cfg.dropout());
        if (this == LLAMA) {
            m.put("attention_bias", cfg.bias());
            m.put("mlp_bias", cfg.mlpBias());
        }
        if (this != LLAMA) {
            m.put("sliding_window", null);
        }
        if (this == QWEN2) {
            m.put("use_sliding_window", false);
            m.put("max_window_layers", cfg.nLayer());
        }
        m.put("initializer_range", INIT_STD);
        m.put("torch_dtype", "float32");
        m.put("use_cache", true);
        return m;
    }

    private static Map<String, Object> ropeScaling(RopeConfig r) {
        if (r.type().equals(RopeConfig.DEFAULT)) {
            return null;
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("rope_type", r.type());
        s.put("factor", r.factor());
        if (r.type().equals(RopeConfig.LLAMA3)) {
            s.put("low_freq_factor", r.lowFreqFactor());
            s.put("high_freq_factor", r.highFreqFactor());
            s.put("original_max_position_embeddings", r.originalContext());
        }
        return s;
    }

    @Override
    public GptConfig readConfig(HfConfigFields f, Predicate<String> hasTensor) {
        String act = f.string("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw f.fail("hidden_act", "\"" + act + "\" is not supported (silu)");
        }
        int nEmbd = f.requiredInt("hidden_size");
        int nHead = f.requiredInt("num_attention_heads");
        int maxPositions = f.requiredInt("max_position_embeddings");
        int headDim = f.intOr("head_dim", nHead > 0 && nEmbd % nHead == 0 ? nEmbd / nHead : 0);
        if (headDim == 0) {
            throw f.fail("hidden_size", nEmbd + " is not divisible by num_attention_heads (" + nHead
                    + ") and head_dim is not given");
        }
        if (this != LLAMA) {
            slidingWindow(f, maxPositions);
        }
        // Each family's config class defaults to untied; a checkpoint without lm_head.weight can only be tied.
        boolean tied = f.boolOr("tie_word_embeddings", !hasTensor.test(lmHead()));
        return new GptConfig(name, f.requiredInt("vocab_size"), maxPositions, f.requiredInt("num_hidden_layers"),
                nHead, f.intOr("num_key_value_heads", nHead), nEmbd, headDim, f.requiredInt("intermediate_size"),
                f.doubleOr("attention_dropout", 0.0), this == LLAMA && f.boolOr("attention_bias", false),
                this == LLAMA && f.boolOr("mlp_bias", false), f.doubleOr("rms_norm_eps", 1e-6), tied, rope(f));
    }

    /** Where every sequence fits inside the window, sliding-window attention is causal attention. */
    private void slidingWindow(HfConfigFields f, int maxPositions) {
        boolean used = this == MISTRAL || f.boolOr("use_sliding_window", false);
        JsonNode w = f.node("sliding_window");
        if (used && w != null && w.isNumber() && w.intValue() < maxPositions) {
            throw f.fail("sliding_window", w.intValue() + " is smaller than max_position_embeddings (" + maxPositions
                    + "): sliding-window attention is not supported");
        }
        JsonNode layers = f.node("layer_types");
        if (layers != null) {
            for (JsonNode t : layers) {
                if (!t.asText().equals("full_attention")) {
                    throw f.fail("layer_types", "\"" + t.asText() + "\" layers are not supported (full_attention)");
                }
            }
        }
    }

    /**
     * transformers 4 writes rope_theta and rope_scaling; transformers 5 writes rope_parameters (with rope_theta
     * inside). Either is read; scaling types other than linear and llama3 fail naming the field.
     */
    private static RopeConfig rope(HfConfigFields f) {
        JsonNode params = f.node("rope_parameters");
        String field = params != null ? "rope_parameters" : "rope_scaling";
        JsonNode scaling = params != null ? params : f.node("rope_scaling");
        double theta = f.doubleOr("rope_theta", 10000.0);
        if (scaling == null) {
            return RopeConfig.plain(theta);
        }
        if (!scaling.isObject()) {
            throw f.fail(field, "must be an object, got " + scaling);
        }
        if (scaling.has("rope_theta")) {
            theta = scaling.get("rope_theta").asDouble();
        }
        String type = scaling.path("rope_type").asText(scaling.path("type").asText(RopeConfig.DEFAULT));
        try {
            return new RopeConfig(theta, type, scaling.path("factor").asDouble(1.0),
                    scaling.path("low_freq_factor").asDouble(0), scaling.path("high_freq_factor").asDouble(0),
                    scaling.path("original_max_position_embeddings").asInt(0));
        } catch (forge.errors.BadInputException e) {
            String problem = e.getMessage().replace("rope_theta:", field + ".rope_theta:")
                    .replace("rope_scaling.", field + ".");
            throw new forge.errors.BadInputException(f.where() + " " + problem, e);
        }
    }

    @Override
    public boolean ignoredHfTensor(String hfName) {
        return hfName.endsWith(".rotary_emb.inv_freq");
    }
}
