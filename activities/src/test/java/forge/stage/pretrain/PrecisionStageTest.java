package forge.stage.pretrain;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.hf.HfCheckpoint;
import forge.hf.HfFiles;
import forge.model.Gpt;
import forge.model.Precision;
import forge.stage.TinyStages;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.tensor.TorchOps;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainingProgress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * train.precision and train.export_dtype through a real pretrain stage: fp16 and bf16 resume bit-exactly, bf16
 * exports.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PrecisionStageTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;
    TinyStages tiny;

    @BeforeAll
    void up() {
        tiny = new TinyStages(dir);
    }

    @AfterAll
    void down() {
        tiny.close();
    }

    private static JsonNode spec(String precision, String exportDtype) throws Exception {
        ObjectNode s = (ObjectNode) PretrainStageTest.spec(30);
        ObjectNode train = (ObjectNode) s.get("train");
        if (precision != null) {
            train.put("precision", precision);
        }
        if (exportDtype != null) {
            train.put("export_dtype", exportDtype);
        }
        return s;
    }

    private StageOutcome run(JsonNode spec, String run, StageControl control) {
        CheckpointStore store = tiny.store(run, "pretrain");
        return new PretrainStage(PretrainConfig.parse(spec), store, tiny.storage, PretrainStageTest.metrics(), null)
                .run(control);
    }

    private static StageControl stopAt(long at) {
        AtomicLong steps = new AtomicLong();
        return new StageControl() {
            @Override
            public void progress(TrainingProgress p) {
                steps.set(p.step());
            }

            @Override
            public void milestone(TrainingProgress p) {}

            @Override
            public boolean stopRequested() {
                return steps.get() >= at;
            }
        };
    }

    @Test
    void fp16ResumesBitExactlyAndExportsBf16WeightsThatReloadCloseToTheMasters() throws Exception {
        JsonNode spec = spec("fp16", "bf16");
        StageOutcome straight = run(spec, "fp16-straight", StageControl.NONE);
        assertTrue(straight.completed());
        assertTrue(Double.isFinite(straight.metrics().get("valLossEnd")));
        assertTrue(straight.metrics().get("valLossEnd") < straight.metrics().get("valLossStart"),
                "fp16 training learns: " + straight.metrics());

        StageOutcome stopped = run(spec, "fp16-resumed", stopAt(13));
        assertFalse(stopped.completed());
        LoadedCheckpoint step13 = tiny.store("fp16-resumed", "pretrain").latest().orElseThrow();
        JsonNode state = JSON.readTree(step13.file("state.json"));
        assertEquals("fp16", state.findValue("precision").asText(), "the resolved config records the precision");
        Map<String, HostTensor> moments = Safetensors.read(step13.file("optimizer.safetensors"));
        assertEquals(65536f, moments.get("grad_scaler.scale").asF32().toFloatArray()[0]);
        assertEquals(13f, moments.get("grad_scaler.growth_tracker").asF32().toFloatArray()[0]);

        // The same checkpoint under another precision is another spec: refused, not silently mixed.
        BadInputException changed = assertThrows(BadInputException.class,
                () -> run(spec("fp32", "bf16"), "fp16-resumed", StageControl.NONE));
        assertTrue(changed.getMessage().contains("different config"), changed.getMessage());

        assertTrue(run(spec, "fp16-resumed", StageControl.NONE).completed());
        LoadedCheckpoint a = tiny.store("fp16-straight", "pretrain").loadFinal().orElseThrow();
        LoadedCheckpoint b = tiny.store("fp16-resumed", "pretrain").loadFinal().orElseThrow();
        assertArrayEquals(a.file("model.safetensors"), b.file("model.safetensors"));
        assertArrayEquals(a.file("optimizer.safetensors"), b.file("optimizer.safetensors"));

        // final/ holds bf16 weights and says so; they reload to logits close to the fp32 masters'.
        assertEquals("bfloat16", JSON.readTree(a.file("config.json")).get("torch_dtype").asText());
        Safetensors.read(a.file("model.safetensors")).values().forEach(t -> assertEquals("BF16", t.dtype()));
        HfCheckpoint hf = HfCheckpoint.read(files(a));
        HfCheckpoint fp32 = HfCheckpoint.read(files(fp32Export()));
        assertEquals("float32", fp32.configJson().get("torch_dtype").asText());
        try (NDManager m = NDManager.newBaseManager();
             Gpt exported = Gpt.fromWeights(m, hf.config(), hf.weights());
             Gpt masters = Gpt.fromWeights(m, fp32.config(), fp32.weights())) {
            long[] ids = {1, 5, 9, 3, 7, 2, 8, 4};
            NDArray x = m.create(ids, new Shape(1, ids.length));
            float[] la = exported.forward(x, false).toFloatArray();
            float[] lb = masters.forward(x, false).toFloatArray();
            double maxDiff = 0;
            for (int i = 0; i < la.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(la[i] - lb[i]));
            }
            // bf16 keeps 8 significant bits (relative error ≤ 2^-9 per weight); on this 2-layer model the logits
            // (of magnitude ~3) move by a few hundredths at most.
            assertTrue(maxDiff < 0.1, "bf16 export moved the logits by " + maxDiff);
        }
    }

    /**
     * The fp32 masters at the end: the same fp16 training with export_dtype left at fp32 (export is applied after
     * training, so the masters are the same ones; a spec differing only there is another run id).
     */
    private LoadedCheckpoint fp32Export() throws Exception {
        run(spec("fp16", null), "fp16-fp32-export", StageControl.NONE);
        return tiny.store("fp16-fp32-export", "pretrain").loadFinal().orElseThrow();
    }

    private static HfFiles files(LoadedCheckpoint c) {
        return new HfFiles() {
            @Override
            public byte[] read(String name) {
                return c.optionalFile(name).orElse(null);
            }

            @Override
            public String where(String name) {
                return c.uri() + name;
            }
        };
    }

    @Test
    void bf16TrainsOnFp32MastersAndResumesBitExactly() throws Exception {
        JsonNode spec = spec("bf16", null);
        StageOutcome straight = run(spec, "bf16-straight", StageControl.NONE);
        assertTrue(straight.completed());
        assertTrue(straight.metrics().get("valLossEnd") < straight.metrics().get("valLossStart"),
                "bf16 training learns: " + straight.metrics());

        assertFalse(run(spec, "bf16-resumed", stopAt(13)).completed());
        LoadedCheckpoint step13 = tiny.store("bf16-resumed", "pretrain").latest().orElseThrow();
        assertEquals("bf16", JSON.readTree(step13.file("state.json")).findValue("precision").asText());
        Map<String, HostTensor> state = Safetensors.read(step13.file("optimizer.safetensors"));
        assertTrue(state.keySet().stream().noneMatch(k -> k.startsWith("grad_scaler")), "bf16 scales no loss");
        Safetensors.read(step13.file("model.safetensors")).values()
                .forEach(t -> assertEquals("F32", t.dtype(), "the masters stay float32"));

        assertTrue(run(spec, "bf16-resumed", StageControl.NONE).completed());
        LoadedCheckpoint a = tiny.store("bf16-straight", "pretrain").loadFinal().orElseThrow();
        LoadedCheckpoint b = tiny.store("bf16-resumed", "pretrain").loadFinal().orElseThrow();
        assertArrayEquals(a.file("model.safetensors"), b.file("model.safetensors"));
        assertArrayEquals(a.file("optimizer.safetensors"), b.file("optimizer.safetensors"));

        // bf16 rounds every matmul input to 8 significant bits: not the fp32 run, but close to it.
        StageOutcome fp32 = run(spec(null, null), "bf16-vs-fp32", StageControl.NONE);
        assertEquals(fp32.metrics().get("valLossEnd"), straight.metrics().get("valLossEnd"), 0.05);
        assertNotEquals(fp32.metrics().get("valLossEnd"), straight.metrics().get("valLossEnd"),
                "bf16 really computed in bf16");
    }

    @Test
    void bf16WithoutTheTorchScriptKernelsAndUnknownPrecisionsAreRefusedNamingTheField() throws Exception {
        TorchOps.setEnabled(false);
        try {
            BadInputException bf16 = assertThrows(BadInputException.class,
                    () -> PretrainConfig.parse(spec("bf16", null)));
            assertTrue(bf16.getMessage().contains("train.precision") && bf16.getMessage().contains("TorchScript"),
                    bf16.getMessage());
        } finally {
            TorchOps.setEnabled(true);
        }
        assertEquals(Precision.BF16, PretrainConfig.parse(spec("bf16", null)).train().precision());
        BadInputException typo = assertThrows(BadInputException.class, () -> PretrainConfig.parse(spec("fp8", null)));
        assertTrue(typo.getMessage().contains("train.precision"), typo.getMessage());
        BadInputException export = assertThrows(BadInputException.class,
                () -> PretrainConfig.parse(spec(null, "int8")));
        assertTrue(export.getMessage().contains("train.export_dtype"), export.getMessage());
        assertEquals(Precision.FP32, PretrainConfig.parse(spec(null, null)).train().precision());
        assertFalse(PretrainConfig.parse(spec(null, null)).resolved().get("train").has("precision"),
                "an fp32 spec resolves as before, so its checkpoints and cache keys still match");
    }
}
