package forge.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import forge.data.Batch;
import forge.data.BatchSampler;
import forge.data.Documents;
import forge.data.TokenizedCorpus;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.optim.AdamW;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainTask;
import forge.tensor.HostTensor;
import forge.tokenizer.Tokenizer;
import forge.train.TrainingLoop;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A pretraining config trained the way a script would: the same model, data, steps, seeds and validations as the
 * pretrain stage, in one process, with no Temporal, no checkpoints and no metrics. The yardstick that durability is
 * charged against, and the source of the training throughput that MFU is computed from.
 */
public final class BareTraining {

    /**
     * @param stepSeconds    wall time of the training steps alone (forward, backward, optimizer)
     * @param evalSeconds    wall time of the validations inside the loop (the stage runs the same ones)
     * @param tokens         tokens trained on
     * @param hostCopyMs     median time to copy weights and optimizer moments to host memory, which is all a
     *                       background checkpoint should cost the training thread
     * @param medianStepSeconds the median step: on a shared machine the mean carries other tenants' bursts
     */
    public record Result(GptConfig model, long steps, double stepSeconds, double evalSeconds, long tokens,
                         double valLossStart, double valLossEnd, double hostCopyMs, long checkpointTensorBytes,
                         double medianStepSeconds) {
        public double loopSeconds() {
            return stepSeconds + evalSeconds;
        }

        public double tokensPerSecond() {
            return tokens / stepSeconds;
        }

        /** Tokens of a step over the median step. */
        public double medianTokensPerSecond() {
            return tokens / (double) steps / medianStepSeconds;
        }
    }

    private BareTraining() {}

    public static Result run(PretrainConfig cfg, Consumer<String> progress) {
        List<List<String>> docs = new ArrayList<>();
        for (int i = 0; i < cfg.sources().size(); i++) {
            docs.add(Documents.read(cfg.sources().get(i), i, null));
        }
        Tokenizer tokenizer = Tokenizer.train(cfg.tokenizer(), docs.stream().flatMap(List::stream).toList());
        TokenizedCorpus corpus = new TokenizedCorpus(docs, cfg.sources(), tokenizer, cfg.valFraction());
        GptConfig gptConfig = cfg.gptConfig(tokenizer.vocabSize());
        BatchSampler sampler = new BatchSampler(corpus, gptConfig.blockSize(), cfg.seed());
        List<Batch> valBatches = sampler.validation(cfg.eval().batches(), cfg.train().batchSize());
        long maxSteps = cfg.train().maxSteps();
        try (NDManager manager = NDManager.newBaseManager();
             Gpt model = Gpt.create(manager, gptConfig, cfg.seed());
             AdamW optimizer = new AdamW(manager, model.parameters(), cfg.optimizer())) {
            forge.optim.LossScaler scaler = optimizer.lossScaler();
            model.setPrecision(cfg.train().precision(), scaler == null ? null : scaler::scale);
            PretrainTask task = new PretrainTask(cfg, model, manager, tokenizer, sampler, valBatches);
            double valStart = task.validationLoss();
            double valEnd = valStart;
            long stepNanos = 0, evalNanos = 0, tokens = 0;
            long[] each = new long[(int) maxSteps];
            for (long step = 0; step < maxSteps; step++) {
                long t0 = System.nanoTime();
                // As TrainingLoop does, so that this run's weights equal the stage's step for step.
                Engine.getInstance().setRandomSeed(TrainingLoop.stepSeed(cfg.seed(), step));
                var sl = task.accumulateGradients(step);
                tokens += sl.tokens();
                if (!Double.isFinite(sl.loss()) && scaler != null) {
                    optimizer.skipNonFiniteLoss(step);   // fp16 overflow, as TrainingLoop handles it
                } else {
                    optimizer.step(step);
                }
                long t1 = System.nanoTime();
                stepNanos += t1 - t0;
                each[(int) step] = t1 - t0;
                long done = step + 1;
                if (done % cfg.eval().interval() == 0 || done == maxSteps) {
                    valEnd = task.validationLoss();
                    evalNanos += System.nanoTime() - t1;
                    progress.accept(String.format(Locale.ROOT, "bare step %d/%d: val loss %.4f, %,.0f tokens/s",
                            done, maxSteps, valEnd, tokens / (stepNanos / 1e9)));
                }
            }
            double[] copies = new double[5];
            long bytes = 0;
            for (int i = 0; i < copies.length; i++) {
                long t0 = System.nanoTime();
                Map<String, HostTensor> weights = model.snapshot();
                Map<String, HostTensor> moments = optimizer.snapshotState();
                copies[i] = (System.nanoTime() - t0) / 1e6;
                bytes = bytes(weights) + bytes(moments);
            }
            Arrays.sort(copies);
            Arrays.sort(each);
            return new Result(gptConfig, maxSteps, stepNanos / 1e9, evalNanos / 1e9, tokens, valStart, valEnd,
                    copies[copies.length / 2], bytes, each.length == 0 ? Double.NaN : each[each.length / 2] / 1e9);
        }
    }

    private static long bytes(Map<String, HostTensor> tensors) {
        return tensors.values().stream().mapToLong(t -> t.data().length).sum();
    }
}
