package forge.stage.dpo;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.model.Gpt;
import forge.preference.PreferenceBatch;
import forge.preference.PreferenceBatchSampler;
import forge.rollout.HeldOutAnswers;
import forge.tensor.EngineArrays;
import forge.train.TrainingLoop;
import forge.workflow.Stages;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One DPO step: {@code train.batch_size} prompts with all their pairs per micro-batch, the frozen reference's reply
 * log-probabilities computed without gradients, the policy's with, and the pair loss of their log-ratio margins,
 * every prompt weighing the same however many pairs it has (as in the reward stage).
 */
final class DpoTask implements TrainingLoop.Task {
    private static final Logger log = LoggerFactory.getLogger(DpoTask.class);

    /** Held-out figures of one validation pass; rewards are the implicit β·log(π/π_ref) of each reply. */
    record Evaluation(double loss, double accuracy, double marginMean, double chosenReward, double rejectedReward) {}

    private final DpoConfig cfg;
    private final Gpt policy;
    private final Gpt reference;
    private final NDManager manager;
    private final PreferenceBatchSampler sampler;
    private final List<PreferenceBatch> valBatches;
    /** The reference's reply log-probabilities of each validation batch: they never change, so computed once. */
    private final List<float[]> valReference = new ArrayList<>();
    private final HeldOutAnswers heldOut;
    private Evaluation last;
    private HeldOutAnswers.Answers finalAnswers;

    /** @param heldOut null when the config names no questions */
    DpoTask(DpoConfig cfg, Gpt policy, Gpt reference, NDManager manager, PreferenceBatchSampler sampler,
            List<PreferenceBatch> valBatches, HeldOutAnswers heldOut) {
        this.cfg = cfg;
        this.policy = policy;
        this.reference = reference;
        this.manager = manager;
        this.sampler = sampler;
        this.valBatches = valBatches.stream().map(b -> b.narrowed(b.usedWidth())).toList();
        this.heldOut = heldOut;
    }

    /** The SFT policy's answers to the held-out questions, before the first update. */
    Map<String, Double> startMetrics() {
        Map<String, Double> out = new LinkedHashMap<>();
        if (heldOut != null) {
            out.putAll(figures(heldOut.sample(reference), "Sft"));
        }
        return out;
    }

    private static Map<String, Double> figures(HeldOutAnswers.Answers a, String who) {
        Map<String, Double> out = new LinkedHashMap<>();
        if (a.graded()) {
            // DESIGN.md's contract: truth* is the fraction of held-out prompts answered right.
            out.put("truth" + who, a.correctFraction());
            out.put("truthScore" + who, a.truthMean());
        }
        out.put("responseLength" + who, a.length());
        return out;
    }

    private boolean perToken() {
        return cfg.loss() == DpoLoss.Kind.IPO;
    }

    @Override
    public TrainingLoop.StepLoss accumulateGradients(long step) {
        int accum = cfg.train().gradAccumSteps();
        List<PreferenceBatch> micro = new ArrayList<>(accum);
        int groups = 0;
        for (int m = 0; m < accum; m++) {
            PreferenceBatch b = sampler.train(step, m, accum, cfg.train().batchSize());
            micro.add(b.narrowed(b.usedWidth()));
            groups += b.groups();
        }
        double lossSum = 0;
        long tokens = 0;
        for (PreferenceBatch b : micro) {
            try (NDScope scope = new NDScope()) {
                float[] ref = logProbs(reference, b, false).toFloatArray();
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    // Summed over this micro-batch's prompts, divided by the step's: the step's mean over prompts.
                    NDArray loss = EngineArrays.scale(lossSum(logProbs(policy, b, true), ref, b), 1.0 / groups);
                    gc.backward(policy.scaleForBackward(loss));
                    lossSum += loss.getFloat();
                }
            }
            for (int l : b.lastIndex()) {
                tokens += l + 1;
            }
        }
        return new TrainingLoop.StepLoss(lossSum, tokens);
    }

    /** (rows,) each row's reply log-probability under a model (mean per token for IPO). */
    private NDArray logProbs(Gpt model, PreferenceBatch b, boolean training) {
        Shape shape = new Shape(b.rows(), b.blockSize());
        NDArray x = EngineArrays.owned(manager.create(b.sequences(), shape));
        NDArray mask = EngineArrays.of(manager, DpoLoss.replyMask(b), new Shape(b.rows(), b.blockSize() - 1));
        return DpoLoss.sequenceLogProbs(model.forward(x, training), x, mask, perToken());
    }

    /** Per pair h, from the policy's (with gradients) and the reference's reply log-probabilities. */
    private NDArray margins(NDArray policyLogp, float[] ref, PreferenceBatch b) {
        NDArray r = EngineArrays.of(manager, ref, new Shape(ref.length));
        return DpoLoss.logRatioMargins(policyLogp, r, indices(b.chosenRow()), indices(b.rejectedRow()));
    }

    private NDArray lossSum(NDArray policyLogp, float[] ref, PreferenceBatch b) {
        return DpoLoss.weightedSum(DpoLoss.pairLosses(margins(policyLogp, ref, b), cfg.beta(), cfg.loss()),
                b.pairWeights());
    }

    /** A libtorch-owned index array: gather's backward reads it after this step's arrays are closed. */
    private NDArray indices(int[] values) {
        long[] longs = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            longs[i] = values[i];
        }
        return EngineArrays.owned(manager.create(longs, new Shape(longs.length)));
    }

    @Override
    public double validationLoss() {
        double lossSum = 0;
        int groups = 0;
        int correct = 0;
        int pairs = 0;
        double marginSum = 0;
        double chosenSum = 0;
        double rejectedSum = 0;
        for (int i = 0; i < valBatches.size(); i++) {
            PreferenceBatch b = valBatches.get(i);
            try (NDScope scope = new NDScope()) {
                if (valReference.size() <= i) {
                    valReference.add(logProbs(reference, b, false).toFloatArray());
                }
                float[] ref = valReference.get(i);
                float[] pol = logProbs(policy, b, false).toFloatArray();
                float[] w = b.pairWeights();
                for (int p = 0; p < b.pairs(); p++) {
                    double c = pol[b.chosenRow()[p]] - ref[b.chosenRow()[p]];
                    double r = pol[b.rejectedRow()[p]] - ref[b.rejectedRow()[p]];
                    double h = c - r;
                    lossSum += w[p] * DpoLoss.pairLoss(h, cfg.beta(), cfg.loss());
                    correct += h > 0 ? 1 : 0;
                    marginSum += cfg.beta() * h;
                    chosenSum += cfg.beta() * c;
                    rejectedSum += cfg.beta() * r;
                }
            }
            groups += b.groups();
            pairs += b.pairs();
        }
        last = new Evaluation(lossSum / groups, (double) correct / pairs, marginSum / pairs, chosenSum / pairs,
                rejectedSum / pairs);
        return last.loss();
    }

    /** Held-out pair accuracy of the implicit reward: the share of pairs whose chosen reply it ranks higher. */
    @Override
    public double validationAccuracy() {
        return last.accuracy();
    }

    @Override
    public List<String> samples() {
        List<String> out = new ArrayList<>();
        if (heldOut == null || cfg.sampleCount() == 0) {
            return out;
        }
        HeldOutAnswers.Answers before = heldOut.sample(reference);
        HeldOutAnswers.Answers after = answersAfter();
        for (int i = 0; i < Math.min(cfg.sampleCount(), after.size()); i++) {
            out.add("Q: " + heldOut.prompts().get(i).prompt().lastUserTurn() + "\nSFT: " + before.replies().get(i)
                    + "\nDPO: " + after.replies().get(i));
        }
        return out;
    }

    private HeldOutAnswers.Answers answersAfter() {
        if (finalAnswers == null) {
            finalAnswers = heldOut.sample(policy);
        }
        return finalAnswers;
    }

    @Override
    public Map<String, Double> finalMetrics() {
        validationLoss();
        Map<String, Double> after = new LinkedHashMap<>();
        after.put("valPairAccuracy", last.accuracy());
        after.put("valMarginMean", last.marginMean());
        after.put("valRewardChosen", last.chosenReward());
        after.put("valRewardRejected", last.rejectedReward());
        if (heldOut != null) {
            HeldOutAnswers.Answers a = answersAfter();
            after.putAll(figures(a, "Dpo"));
            // DESIGN.md's klFinal: the exact KL to the reference on held-out answers.
            after.put("klFinal", heldOut.exactKl(policy, reference, a));
        }
        log.info("{} held-out: implicit-reward pair accuracy {}, mean margin {}{}", Stages.DPO,
                TrainingLoop.fmt(last.accuracy()), TrainingLoop.fmt(last.marginMean()),
                after.containsKey("truthDpo") ? ", right answers " + TrainingLoop.fmt(after.get("truthDpo")) : "");
        return after;
    }
}
