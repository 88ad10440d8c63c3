package forge.hf;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointFile;
import forge.model.GptConfig;
import forge.model.HfNames;
import forge.model.LoraConfig;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A LoRA run's adapters as PEFT saves them, so {@code PeftModel.from_pretrained(base, final/)} loads them without the
 * merged weights: {@code adapter_model.safetensors} with PEFT's names
 * ({@code base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight}: "base_model.model." + the module's name
 * in the base model's state dict + the adapter's {@code lora_A}/{@code lora_B} Linear weight) and
 * {@code adapter_config.json}. PEFT's lora_A is a Linear (in → r), weight (r, in), and lora_B (r → out), weight
 * (out, r), for GPT-2's Conv1D targets too (fan_in_fan_out only flips the base weight), so GPT-2's adapters, kept
 * in Conv1D layout (in, r) and (r, out), are transposed. Merging gives W + (alpha / r)·B·A in nn.Linear layout.
 */
public final class PeftAdapter {
    public static final String WEIGHTS = "adapter_model.safetensors";
    public static final String CONFIG = "adapter_config.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private PeftAdapter() {
    }

    /**
     * @param adapters  the model's LoRA parameters by internal name ({@code <block prefix><module>.lora_A}), host
     *                  copies in the model's layout
     * @param baseModel what the adapters were trained on, for base_model_name_or_path: a Hugging Face directory or
     *                  a Forge checkpoint URI
     */
    public static List<CheckpointFile> files(GptConfig cfg, LoraConfig lora, Map<String, HostTensor> adapters,
                                             String baseModel) {
        boolean conv1d = cfg.architecture().isGpt2();
        Map<String, HostTensor> named = new LinkedHashMap<>();
        adapters.forEach((name, t) -> named.put(peftName(cfg, name), conv1d ? transpose(t) : t));
        ObjectNode c = JSON.createObjectNode();
        c.put("peft_type", "LORA");
        c.put("task_type", "CAUSAL_LM");
        c.put("base_model_name_or_path", baseModel);
        c.put("r", lora.rank());
        if (lora.alpha() == Math.rint(lora.alpha())) {
            c.put("lora_alpha", (long) lora.alpha());     // PEFT's field is an int; keep a fractional alpha as it is
        } else {
            c.put("lora_alpha", lora.alpha());
        }
        c.put("lora_dropout", 0.0);
        var targets = c.putArray("target_modules");
        lora.targets().forEach(targets::add);
        c.put("bias", "none");
        c.put("fan_in_fan_out", conv1d);
        c.put("inference_mode", true);
        c.put("init_lora_weights", true);
        c.put("use_rslora", false);
        c.put("use_dora", false);
        c.putNull("modules_to_save");
        c.putNull("layers_to_transform");
        c.putNull("revision");
        try {
            return List.of(new CheckpointFile(WEIGHTS, Safetensors.write(named, Map.of("format", "pt"))),
                    new CheckpointFile(CONFIG, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(c)));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** "model.layers.0.self_attn.q_proj.lora_A" → "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight". */
    static String peftName(GptConfig cfg, String internal) {
        return "base_model.model." + HfNames.hfName(cfg, internal) + ".weight";
    }

    private static HostTensor transpose(HostTensor t) {
        long[] s = t.shape();
        int rows = Math.toIntExact(s[0]);
        int cols = Math.toIntExact(s[1]);
        float[] v = t.asF32().toFloatArray();
        float[] out = new float[v.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[j * rows + i] = v[i * cols + j];
            }
        }
        return HostTensor.f32(new long[] {cols, rows}, out);
    }
}
