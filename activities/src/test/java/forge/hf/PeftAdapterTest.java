package forge.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.LoadedCheckpoint;
import forge.stage.TinyStages;
import forge.stage.sft.SftConfig;
import forge.stage.sft.SftStage;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.train.StageControl;
import forge.train.TrainingMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A LoRA SFT run from each fixture writes its adapters as PEFT does (names, shapes, adapter_config.json), and the
 * merged final/ weights are the fixture's plus (alpha / r)·B·A, PEFT's merge, for every adapted projection.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PeftAdapterTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;
    TinyStages stages;

    @BeforeAll
    void up() {
        stages = new TinyStages(dir);
    }

    @AfterAll
    void down() {
        stages.close();
    }

    @ParameterizedTest
    @CsvSource({
            "llama, 'q_proj,v_proj', model.layers.%d.self_attn.%s",
            "qwen2, 'q_proj,v_proj,down_proj', model.layers.%d.%s",
            "gpt2, 'c_attn', transformer.h.%d.attn.%s"})
    void adaptersArePeftsAndMergeIntoTheExport(String name, String targets, String module) throws Exception {
        Path fixture = HfFixtures.dir(name);
        ObjectNode spec = (ObjectNode) YAML.readTree("""
                seed: 3
                init_from: {hf: "%s"}
                method: lora
                lora: {rank: 4, alpha: 8, targets: [%s]}
                data: {sources: [{path: "demo:sft?seed=7&count=24"}]}
                train: {max_steps: 2, batch_size: 2, warmup_steps: 1, learning_rate: 0.01}
                eval: {interval: 2, batches: 1}
                task_eval: {count: 0}
                checkpoint: {interval_steps: 100, interval_seconds: 3600, keep_last: 2}
                sample: {count: 0}
                """.formatted(fixture.toString().replace("\\", "/"), targets));
        assertTrue(new SftStage(SftConfig.parse(spec), null, stages.store(name, "lora"), stages.storage,
                new TrainingMetrics(new SimpleMeterRegistry(), name, "sft"), null).run(StageControl.NONE).completed());
        LoadedCheckpoint fin = stages.store(name, "lora").loadFinal().orElseThrow();

        JsonNode config = JSON.readTree(fin.file(PeftAdapter.CONFIG));
        assertEquals("LORA", config.get("peft_type").asText());
        assertEquals("CAUSAL_LM", config.get("task_type").asText());
        assertEquals(4, config.get("r").asInt());
        assertEquals(8, config.get("lora_alpha").asInt());
        assertEquals(fixture.toString().replace("\\", "/"), config.get("base_model_name_or_path").asText());
        List<String> modules = new ArrayList<>();
        config.get("target_modules").forEach(t -> modules.add(t.asText()));
        assertEquals(List.of(targets.split(",")), modules);
        assertEquals(name.equals("gpt2"), config.get("fan_in_fan_out").asBoolean());

        HfCheckpoint base = HfCheckpoint.read(HfFiles.local(fixture));
        HfCheckpoint merged = HfCheckpoint.read(HfFiles.of(fin.files(), fin.uri().toString()));
        Map<String, HostTensor> adapters = Safetensors.read(fin.file(PeftAdapter.WEIGHTS));
        int layers = base.config().nLayer();
        assertEquals(2 * layers * modules.size(), adapters.size());
        double scale = 8.0 / 4;
        for (int layer = 0; layer < layers; layer++) {
            for (String target : modules) {
                String path = module.formatted(layer, name.equals("qwen2") && target.equals("down_proj")
                        ? "mlp." + target : name.equals("qwen2") ? "self_attn." + target : target);
                HostTensor a = adapters.get("base_model.model." + path + ".lora_A.weight");
                HostTensor b = adapters.get("base_model.model." + path + ".lora_B.weight");
                assertTrue(a != null && b != null, path + " in " + adapters.keySet());
                HostTensor w0 = base.weights().get(path + ".weight");
                // nn.Linear (out, in); GPT-2's Conv1D (in, out): fan_in_fan_out transposes the delta.
                boolean conv1d = name.equals("gpt2");
                long in = conv1d ? w0.shape()[0] : w0.shape()[1];
                long out = conv1d ? w0.shape()[1] : w0.shape()[0];
                assertArrayEquals(new long[] {4, in}, a.shape(), path + " lora_A (r, in)");
                assertArrayEquals(new long[] {out, 4}, b.shape(), path + " lora_B (out, r)");
                float[] av = a.asF32().toFloatArray();
                float[] bv = b.asF32().toFloatArray();
                float[] w = w0.asF32().toFloatArray();
                float[] got = exported(merged, path + ".weight");
                boolean changed = false;
                for (int o = 0; o < out; o++) {
                    for (int i = 0; i < in; i++) {
                        double delta = 0;
                        for (int r = 0; r < 4; r++) {
                            delta += bv[o * 4 + r] * av[r * (int) in + i];
                        }
                        int at = conv1d ? (int) (i * out + o) : (int) (o * in + i);
                        double want = w[at] + scale * delta;
                        assertEquals(want, got[at], 1e-5 + 1e-5 * Math.abs(want), path + " [" + o + ", " + i + "]");
                        changed |= delta != 0;
                    }
                }
                assertTrue(changed, path + ": B was trained away from zero");
            }
        }
        String other = name.equals("gpt2") ? "transformer.h.0.mlp.c_fc.weight" : "model.layers.0.mlp.up_proj.weight";
        assertArrayEquals(base.weights().get(other).asF32().toFloatArray(), exported(merged, other),
                "a module without adapters is unchanged");
        assertFalse(merged.weights().keySet().stream().anyMatch(k -> k.contains("lora_")));
    }

    /** A weight of the merged export by HF name; Forge's GPT-2 files store it without "transformer.". */
    private static float[] exported(HfCheckpoint merged, String hfName) {
        HostTensor t = merged.weights().get(hfName);
        if (t == null) {
            t = merged.weights().get(hfName.substring("transformer.".length()));
        }
        return t.asF32().toFloatArray();
    }
}
