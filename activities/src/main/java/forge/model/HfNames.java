package forge.model;

import forge.tensor.HostTensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Between a model's own parameter names ({@link Architecture#parameterShapes}) and the names in a Hugging Face
 * state dict. Llama-family names are HF's already; GPT-2's lack HF's "transformer." prefix, as every Forge GPT-2
 * checkpoint has always stored them. Reading also drops what HF files carry but no parameter needs: attention-mask
 * and inv_freq buffers, and a tied model's duplicate lm_head.weight; a bare base-model checkpoint (LlamaModel's
 * "layers.0...") gets its "model." prefix.
 */
public final class HfNames {
    private static final String SCORE = "score.weight";

    private HfNames() {
    }

    /** The internal name of an HF tensor, or null when the model does not load it. */
    public static String internalName(GptConfig cfg, String hfName) {
        Architecture a = cfg.architecture();
        if (a.ignoredHfTensor(hfName)) {
            return null;
        }
        if (hfName.equals(SCORE)) {
            return hfName;
        }
        if (a.isGpt2()) {
            return hfName.startsWith(a.hfBasePrefix()) ? hfName.substring(a.hfBasePrefix().length()) : hfName;
        }
        if (hfName.equals(a.lmHead())) {
            return cfg.tiedEmbeddings() ? null : hfName;
        }
        return hfName.startsWith(a.hfBasePrefix()) ? hfName : a.hfBasePrefix() + hfName;
    }

    /** The name transformers expects for an internal parameter (score head and LM head as they are). */
    public static String hfName(GptConfig cfg, String name) {
        Architecture a = cfg.architecture();
        if (!a.isGpt2() || name.equals(SCORE)) {
            return name;
        }
        return a.hfBasePrefix() + name;
    }

    /** A model snapshot as transformers names it, in the same order. */
    public static LinkedHashMap<String, HostTensor> toHf(GptConfig cfg, Map<String, HostTensor> snapshot) {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        snapshot.forEach((name, t) -> out.put(hfName(cfg, name), t));
        return out;
    }
}
