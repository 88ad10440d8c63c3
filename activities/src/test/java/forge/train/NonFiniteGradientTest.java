package forge.train;

import forge.stage.TinyStages;
import forge.stage.pretrain.PretrainStageTest;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.optim.AdamW;
import forge.optim.AdamWConfig;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.tokenizer.Tokenizer;
import forge.tokenizer.TokenizerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A step whose loss is finite but whose gradients are not (an overflow in backward): the loop stops the stage as bad
 * input naming the step, the optimizer never applies the step, and the last good checkpoint is the newest one.
 */
class NonFiniteGradientTest {
    private static final long NAN_AT = 7;

    @TempDir
    Path dir;

    @Test
    @SuppressWarnings("unchecked")
    void aNonFiniteGradientStopsTheStageBeforeItReachesTheWeights() {
        try (TinyStages tiny = new TinyStages(dir); NDManager manager = NDManager.newBaseManager()) {
            Tokenizer tokenizer = Tokenizer.train(new TokenizerConfig("char", 0, TokenizerConfig.DEFAULT_TRAIN_CHARS),
                    List.of("abcdefgh"));
            Gpt model = Gpt.create(manager, new GptConfig(tokenizer.vocabSize(), 8, 1, 2, 8, 0.0, true), 3);
            AdamW optimizer = new AdamW(manager, model.parameters(), new AdamWConfig(1e-2, 1e-3, 0, 0, 0.9, 0.99,
                    1e-8, 0.0, 1.0));
            NDArray wte = model.parameters().values().iterator().next();
            TrainingLoop.Task task = new TrainingLoop.Task() {
                @Override
                public TrainingLoop.StepLoss accumulateGradients(long step) {
                    float coef = step == NAN_AT ? Float.NaN : 0.1f * (step + 1);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        gc.backward(wte.mul(coef).sum());
                    }
                    return new TrainingLoop.StepLoss(1.0, 8); // finite: only the gradients are not
                }

                @Override
                public double validationLoss() {
                    return 1.0;
                }

                @Override
                public List<String> samples() {
                    return List.of();
                }
            };
            Map<String, HostTensor>[] beforeNan = new Map[1];
            StageControl control = new StageControl() {
                @Override
                public void progress(TrainingProgress p) {
                    if (p.step() == NAN_AT) {
                        beforeNan[0] = model.snapshot(); // steps 0..6 done, step 7 next
                    }
                }

                @Override
                public void milestone(TrainingProgress p) {}

                @Override
                public boolean stopRequested() {
                    return false;
                }
            };
            CheckpointStore store = tiny.store("nan", "pretrain");
            store.resume();
            TrainState start = TrainState.start("pretrain", 3, 1.0, null, JsonNodeFactory.instance.objectNode(),
                    Map.of());
            TrainingLoop loop = new TrainingLoop(
                    new TrainingLoop.Settings("pretrain", 3, 20, 100, new CheckpointSpec(5, 3600, 2)), task, model,
                    optimizer, tokenizer, new TrainingLoop.Io(store, PretrainStageTest.metrics(), control,
                            null, null), start, null, System.nanoTime());

            BadInputException e = assertThrows(BadInputException.class, loop::run);
            assertTrue(e.getMessage().startsWith("pretrain gradient norm is NaN at step 7"), e.getMessage());
            assertTrue(e.getMessage().contains("the update was not applied; the last good checkpoint is ")
                    && e.getMessage().contains("step-000000005-e000001"), e.getMessage());

            Map<String, HostTensor> inMemory = model.snapshot();
            assertEquals(beforeNan[0], inMemory, "step 7 changed no weight");
            inMemory.values().forEach(t -> {
                for (float v : t.toFloatArray()) {
                    assertTrue(Float.isFinite(v), "a NaN reached the weights");
                }
            });
            LoadedCheckpoint last = store.latest().orElseThrow();
            assertEquals(5, last.step(), "the last good checkpoint is the newest");
            for (HostTensor t : Safetensors.read(last.file("model.safetensors")).values()) {
                for (float v : t.toFloatArray()) {
                    assertTrue(Float.isFinite(v));
                }
            }
            assertFalse(store.loadFinal().isPresent(), "no final/ for a stage that failed");
        }
    }
}
