package forge.stage.pretrain;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.stage.TinyStages;
import forge.train.AvailableMemory;
import forge.train.StageControl;
import forge.train.StageOutcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pretrain stage with train.activation_checkpointing and with the memory check at its start: a checkpointed
 * run, stopped and resumed, ends with the plain run's weights and moments byte for byte (an untied Llama: every
 * gradient is bit-equal, CheckpointingTest); a stage that does not fit is refused before it trains.
 */
class CheckpointedPretrainTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final String SPEC = """
            seed: 5
            model: {arch: llama, n_layer: 2, n_head: 4, n_kv_head: 2, n_embd: 32, block_size: 32}
            tokenizer: {type: char}
            data: {sources: [{path: "demo:pretrain?seed=7&docs=200"}]}
            train: {max_steps: 10, batch_size: 4, grad_accum_steps: 2, warmup_steps: 2%s}
            eval: {interval: 10, batches: 1}
            checkpoint: {interval_steps: 4, interval_seconds: 3600, keep_last: 2}
            sample: {count: 0}
            """;

    @TempDir
    Path dir;

    @Test
    void aCheckpointedStoppedAndResumedRunEqualsThePlainRun() throws Exception {
        try (TinyStages stages = new TinyStages(dir)) {
            PretrainConfig plain = PretrainConfig.parse(YAML.readTree(SPEC.formatted("")));
            PretrainConfig ckpt = PretrainConfig.parse(YAML.readTree(SPEC.formatted(", activation_checkpointing: true")));
            assertTrue(ckpt.train().activationCheckpointing());
            assertTrue(new PretrainStage(plain, stages.store("plain", "pretrain"), stages.storage,
                    PretrainStageTest.metrics(), null).run(StageControl.NONE).completed());

            StageOutcome stopped = new PretrainStage(ckpt, stages.store("ckpt", "pretrain"), stages.storage,
                    PretrainStageTest.metrics(), null).run(forge.stage.sft.SftStageTest.stopAt(5));
            assertFalse(stopped.completed());
            assertTrue(new PretrainStage(ckpt, stages.store("ckpt", "pretrain"), stages.storage,
                    PretrainStageTest.metrics(), null).run(StageControl.NONE).completed());

            LoadedCheckpoint a = stages.store("plain", "pretrain").loadFinal().orElseThrow();
            LoadedCheckpoint b = stages.store("ckpt", "pretrain").loadFinal().orElseThrow();
            assertArrayEquals(a.file("model.safetensors"), b.file("model.safetensors"));
            assertArrayEquals(a.file("optimizer.safetensors"), b.file("optimizer.safetensors"));
        }
    }

    @Test
    void dropoutWithCheckpointingIsRefusedByTheSpec() {
        BadInputException e = assertThrows(BadInputException.class, () -> PretrainConfig.parse(YAML.readTree(
                SPEC.replace("block_size: 32}", "block_size: 32, dropout: 0.1}")
                        .formatted(", activation_checkpointing: true"))));
        assertTrue(e.getMessage().startsWith("train.activation_checkpointing: needs model.dropout 0"), e.getMessage());
    }

    @Test
    void aStageThatDoesNotFitIsRefusedBeforeItTrains() throws Exception {
        try (TinyStages stages = new TinyStages(dir)) {
            PretrainConfig cfg = PretrainConfig.parse(YAML.readTree(SPEC.formatted("")));
            System.setProperty(AvailableMemory.OVERRIDE, String.valueOf(64L << 20));
            BadInputException e;
            try {
                e = assertThrows(BadInputException.class, () -> new PretrainStage(cfg,
                        stages.store("small", "pretrain"), stages.storage, PretrainStageTest.metrics(), null)
                        .run(StageControl.NONE));
            } finally {
                System.clearProperty(AvailableMemory.OVERRIDE);
            }
            assertTrue(e.getMessage().startsWith("stage pretrain needs ≈ 0.8"), e.getMessage());
            assertTrue(e.getMessage().contains("on the host (cpu) (weights 0.000"), e.getMessage());
            assertTrue(e.getMessage().contains("but 0.063 GiB are free"), e.getMessage());
            // Only the attempt's epoch claim (docs/fencing.md): no checkpoint, no final/.
            stages.storage.listWithSizes(stages.store("small", "pretrain").stageRoot()).forEach(o ->
                    assertTrue(o.name().startsWith("_epochs/"), o.name()));
        }
    }
}
