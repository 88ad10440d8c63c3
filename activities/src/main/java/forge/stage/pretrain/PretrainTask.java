package forge.stage.pretrain;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.data.Batch;
import forge.data.BatchSampler;
import forge.model.GenerationOptions;
import forge.model.Gpt;
import forge.tensor.EngineArrays;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.train.SampleSpec;
import forge.train.TrainingLoop;

import java.util.ArrayList;
import java.util.List;

/**
 * Pretraining's step: next-token prediction on (seed, step)-pure batches of the corpus. Public so that a benchmark
 * can run the same step without the durable loop around it.
 */
public final class PretrainTask implements TrainingLoop.Task {
    private final PretrainConfig cfg;
    private final Gpt model;
    private final NDManager manager;
    private final Tokenizer tokenizer;
    private final BatchSampler sampler;
    private final List<Batch> valBatches;

    public PretrainTask(PretrainConfig cfg, Gpt model, NDManager manager, Tokenizer tokenizer, BatchSampler sampler,
                        List<Batch> valBatches) {
        this.cfg = cfg;
        this.model = model;
        this.manager = manager;
        this.tokenizer = tokenizer;
        this.sampler = sampler;
        this.valBatches = valBatches;
    }

    @Override
    public TrainingLoop.StepLoss accumulateGradients(long step) {
        int accum = cfg.train().gradAccumSteps();
        double lossSum = 0;
        for (int micro = 0; micro < accum; micro++) {
            Batch batch = sampler.train(step, micro, cfg.train().batchSize());
            try (NDScope scope = new NDScope();
                 GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                // The model copies ids into libtorch-owned memory before autograd can hold on to them.
                NDArray x = manager.create(batch.inputs(), new Shape(batch.batchSize(), batch.blockSize()));
                NDArray y = manager.create(batch.targets(), new Shape(batch.batchSize(), batch.blockSize()));
                if (cfg.train().activationCheckpointing()) {
                    float[] loss = new float[1];
                    model.backwardCheckpointed(gc, x, null, null, logits -> {
                        NDArray l = Gpt.crossEntropy(logits, y, null);
                        loss[0] = l.getFloat();
                        return model.scaleForBackward(EngineArrays.scale(l, 1.0 / accum));
                    });
                    lossSum += loss[0];
                    continue;
                }
                NDArray logits = model.forward(x, true); // (B, T, V)
                NDArray loss = Gpt.crossEntropy(logits, y, null);
                gc.backward(model.scaleForBackward(EngineArrays.scale(loss, 1.0 / accum)));
                lossSum += loss.getFloat();
            }
        }
        return new TrainingLoop.StepLoss(lossSum / accum, cfg.tokensPerStep());
    }

    @Override
    public double validationLoss() {
        return PretrainStage.evaluate(model, manager, valBatches);
    }

    @Override
    public List<String> samples() {
        List<String> out = new ArrayList<>();
        SampleSpec s = cfg.sample();
        for (int i = 0; i < s.count(); i++) {
            int[] prompt = s.prompt().isEmpty()
                    ? new int[] {tokenizer.id(SpecialToken.END_OF_TEXT)}
                    : tokenizer.encode(s.prompt());
            int[] generated = model.generate(prompt, new GenerationOptions(s.maxNewTokens(), s.temperature(),
                    s.topK(), 1.0, tokenizer.id(SpecialToken.END_OF_TEXT), true),
                    TrainingLoop.stepSeed(cfg.seed(), -1 - i));
            out.add(tokenizer.decode(generated, true)); // generate returns the prompt and its continuation
        }
        return out;
    }
}
