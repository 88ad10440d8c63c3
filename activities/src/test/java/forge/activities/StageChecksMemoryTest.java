package forge.activities;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.train.AvailableMemory;
import forge.workflow.StageInput;
import forge.workflow.TrainingPipelineImpl;
import io.temporal.failure.ApplicationFailure;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The checks before the first stage refuse a pretraining stage that cannot fit, before any stage starts. */
class StageChecksMemoryTest {
    @Test
    void aPretrainStageTooBigForThisWorkerFailsTheChecksAsBadInput() throws Exception {
        var spec = new ObjectMapper(new YAMLFactory()).readTree("""
                model: {n_layer: 12, n_head: 12, n_embd: 768, block_size: 1024}
                tokenizer: {type: bpe, vocab_size: 50257}
                data: {sources: [{path: "demo:pretrain?seed=7&docs=100"}]}
                train: {batch_size: 20}
                """);
        StageChecksImpl checks = new StageChecksImpl(null);
        System.setProperty(AvailableMemory.OVERRIDE, String.valueOf(32L << 30));
        try {
            ApplicationFailure f = assertThrows(ApplicationFailure.class,
                    () -> checks.checkStage(new StageInput("r", "pretrain", spec, null)));
            assertTrue(f.isNonRetryable());
            assertEquals(TrainingPipelineImpl.BAD_INPUT, f.getType());
            assertTrue(f.getOriginalMessage().startsWith("stage pretrain needs ≈ "), f.getOriginalMessage());
            assertTrue(f.getOriginalMessage().contains("at batch_size 20 × 1024 tokens"), f.getOriginalMessage());
            assertTrue(f.getOriginalMessage().contains("but 32.0 GiB are free"), f.getOriginalMessage());
            // With activation checkpointing the same model and batch fit.
            ((com.fasterxml.jackson.databind.node.ObjectNode) spec.get("train")).put("activation_checkpointing", true);
            checks.checkStage(new StageInput("r", "pretrain", spec, null));
        } finally {
            System.clearProperty(AvailableMemory.OVERRIDE);
        }
    }
}
