package forge.stage.pretrain;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.hf.HfCheckpoint;
import forge.hf.HfFiles;
import forge.model.GptConfig;
import forge.stage.TinyStages;
import forge.train.StageControl;
import forge.train.StageOutcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pretraining from scratch with the Llama block: its final/ is a LlamaForCausalLM that reads back as one. */
class LlamaPretrainTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final String SPEC = """
            seed: 5
            model: {arch: llama, n_layer: 2, n_head: 4, n_kv_head: 2, n_embd: 32, block_size: 32%s}
            tokenizer: {type: char}
            data: {sources: [{path: "demo:pretrain?seed=7&docs=200"}]}
            train: {max_steps: 12, batch_size: 4, warmup_steps: 2}
            eval: {interval: 12, batches: 1}
            sample: {count: 0}
            """;

    @TempDir
    Path dir;

    @Test
    void trainsALlamaAndExportsIt() throws Exception {
        try (TinyStages stages = new TinyStages(dir)) {
            PretrainConfig cfg = PretrainConfig.parse(YAML.readTree(SPEC.formatted("")));
            StageOutcome out = new PretrainStage(cfg, stages.store("llama", "pretrain"), stages.storage,
                    PretrainStageTest.metrics(), null).run(StageControl.NONE);
            assertTrue(out.completed());
            LoadedCheckpoint fin = stages.store("llama", "pretrain").loadFinal().orElseThrow();
            GptConfig read = HfCheckpoint.read(HfFiles.of(fin.files(), fin.uri().toString())).config();
            assertEquals("llama", read.arch());
            assertEquals(2, read.nKvHead());
            assertEquals(cfg.gptConfig(read.vocabSize()), read, "config.json describes the trained model");
            assertTrue(new String(fin.file("config.json")).contains("LlamaForCausalLM"));
        }
    }

    @Test
    void badLlamaShapesNameTheirField() {
        BadInputException e = assertThrows(BadInputException.class,
                () -> PretrainConfig.parse(YAML.readTree(SPEC.formatted(", n_kv_head: 3"))));
        assertTrue(e.getMessage().startsWith("model.n_kv_head"), e.getMessage());
        e = assertThrows(BadInputException.class,
                () -> PretrainConfig.parse(YAML.readTree(SPEC.formatted(", bias: false"))));
        assertTrue(e.getMessage().startsWith("model.bias"), e.getMessage());
    }
}
