package forge.stage.ppo;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.chat.ChatEncoder;
import forge.data.EpochOrder;
import forge.data.Seeds;
import forge.demo.DemoWorld;
import forge.model.GenerationOptions;
import forge.model.Gpt;
import forge.optim.AdamW;
import forge.rewards.RewardModel;
import forge.rewards.RewardStats;
import forge.rollout.EncodedPrompt;
import forge.rollout.HeldOutAnswers;
import forge.rollout.PolicyGradient;
import forge.rollout.RolloutBatch;
import forge.rollout.TokenLogProbs;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.train.TrainingLoop;
import forge.train.TrainingMetrics;
import forge.workflow.Stages;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One PPO iteration per loop step: sample answers to a batch of prompts with the KV cache, score them with the
 * reward model, turn score and per-token KL penalty into advantages (GAE), then {@code ppo.epochs} passes of clipped
 * policy and value updates over shuffled mini-batches. Everything random is a pure function of (seed, step), and the
 * KL coefficient travels in the checkpointed state, so a resumed run repeats the original bit for bit.
 *
 * <p>Positions: in a sequence of prompt then response, action j (0 ≤ j < width−1) is the token at j+1, taken with
 * the policy's logits at j, in the state the critic values at j. A response of n tokens (its {@code <|end|>}
 * included) starting at index p has actions p−1 .. p+n−2; the score lands on the last.
 */
final class PpoTask implements TrainingLoop.IterationTask {
    private static final Logger log = LoggerFactory.getLogger(PpoTask.class);

    /** The four models: policy (trained), frozen reference and reward model, and the critic or a value head. */
    static final class Models {
        final NDManager manager;
        final Gpt policy;
        final Gpt reference;
        final Gpt reward;
        final Gpt critic;
        /** (1, C) on the policy's trunk when there is no separate critic; zeros, so values start at 0. */
        final NDArray valueHead;

        Models(NDManager manager, Gpt policy, Gpt reference, Gpt reward, Gpt critic) {
            this.manager = manager;
            this.policy = policy;
            this.reference = reference;
            this.reward = reward;
            this.critic = critic;
            if (critic == null) {
                NDArray v = EngineArrays.of(manager, new float[policy.config().nEmbd()],
                        new Shape(1, policy.config().nEmbd()));
                NDScope.unregister(v);
                v.setRequiresGradient(true);
                valueHead = v;
            } else {
                valueHead = null;
            }
        }

        LinkedHashMap<String, NDArray> policyParameters() {
            LinkedHashMap<String, NDArray> p = policy.trainableParameters();
            if (valueHead != null) {
                p.put("v_head.weight", valueHead);
            }
            return p;
        }

        void loadValueHead(Map<String, HostTensor> tensors) {
            HostTensor v = tensors.get("v_head.weight");
            if (v == null) {
                throw new forge.errors.BadInputException("checkpoint value head is missing tensor v_head.weight");
            }
            EngineArrays.copyInto(valueHead, v);
        }
    }

    /** Held-out figures of the policy's sampled answers. */
    record Evaluation(double reward, double truth, double truthStd, double correct, double kl, double length,
                      List<String> replies, double[] scores) {}

    private final PpoConfig cfg;
    private final Models m;
    private final AdamW optimizer;
    private final AdamW criticOptimizer;
    private final Tokenizer tokenizer;
    private final RewardStats stats;
    private final List<EncodedPrompt> train;
    private final List<EncodedPrompt> validation;
    private final HeldOutAnswers heldOut;
    private final RewardModel rewardModel;
    private final DemoWorld world;
    private final TrainingMetrics metrics;
    private final KlController kl;
    private final EpochOrder order;
    private final int stopToken;
    private final Map<String, Double> start = new LinkedHashMap<>();
    private double hackingWarnings;
    private Evaluation last;
    private Evaluation startEvaluation;
    private TrainingMetrics.PpoIteration lastIteration;
    private Timing lastTiming;

    /** Where an iteration's time went besides generating (which {@link TrainingMetrics.PpoIteration} has). */
    private record Timing(double seconds, double scoringShare, long newTokens) {}

    /** @param saved a resumed run's state metrics (KL coefficient, start figures); empty for a fresh start */
    PpoTask(PpoConfig cfg, Models models, AdamW optimizer, AdamW criticOptimizer, Tokenizer tokenizer,
            RewardStats stats, List<EncodedPrompt> train, List<EncodedPrompt> validation, DemoWorld world,
            TrainingMetrics metrics, Map<String, Double> saved) {
        this.cfg = cfg;
        this.m = models;
        this.optimizer = optimizer;
        this.criticOptimizer = criticOptimizer;
        this.tokenizer = tokenizer;
        this.stats = stats;
        this.train = train;
        this.validation = validation.subList(0, Math.min(validation.size(), cfg.evalPrompts()));
        this.world = world;
        this.metrics = metrics;
        this.kl = new KlController(saved.getOrDefault("klCoef", cfg.kl().coef()), cfg.kl().adaptive(),
                cfg.kl().target(), cfg.kl().horizon());
        this.order = new EpochOrder(train.size(), cfg.seed(), 0x9907);
        this.stopToken = ChatEncoder.endOfTurn(tokenizer);
        this.heldOut = new HeldOutAnswers(this.validation, cfg.rollout(), stopToken, tokenizer, world, models.manager);
        this.rewardModel = new RewardModel(models.reward, stats, models.manager, tokenizer.id(SpecialToken.PAD));
        this.hackingWarnings = saved.getOrDefault("hackingWarnings", 0.0);
        start.putAll(saved);
    }

    /** The SFT policy's held-out figures, measured before the first update. */
    Map<String, Double> startMetrics() {
        validationLoss();
        startEvaluation = last;
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("rewardSft", last.reward());
        if (world != null) {
            // DESIGN.md's contract: truth* is the fraction of held-out prompts answered right.
            out.put("truthSft", last.correct());
            out.put("truthScoreSft", last.truth());
            out.put("truthScoreStdSft", last.truthStd());
        }
        out.put("responseLengthSft", last.length());
        out.put("klCoef", kl.coef());
        return out;
    }

    void rememberStart(Map<String, Double> figures) {
        start.putAll(figures);
    }

    double lastValidationLoss() {
        return objectiveLoss(last);
    }

    private double objectiveLoss(Evaluation e) {
        return -(e.reward() - kl.coef() * e.kl());
    }

    // ------------------------------------------------------------------------------------------ one iteration

    @Override
    public TrainingLoop.Iteration iterate(long step) {
        long t0 = System.nanoTime();
        int rows = cfg.train().batchSize();
        int[][] prompts = new int[rows][];
        int[] promptLengths = new int[rows];
        List<EncodedPrompt> batch = new ArrayList<>(rows);
        for (int i = 0; i < rows; i++) {
            EncodedPrompt p = train.get(order.item(step * rows + i));
            batch.add(p);
            prompts[i] = p.ids();
            promptLengths[i] = p.ids().length;
        }
        List<int[]> sequences = List.of(m.policy.generateBatch(prompts, rolloutOptions(), Seeds.mix(cfg.seed(), step)));
        RolloutBatch rollout = RolloutBatch.of(sequences, promptLengths, stopToken);
        long generated = rollout.tokenCount() - Arrays.stream(promptLengths).sum();
        double genSeconds = (System.nanoTime() - t0) / 1e9;
        int width = rollout.width();

        float[] oldLogp;
        float[] refLogp;
        float[] values;
        float[] rawScores;
        double entropy;
        try (NDScope scope = new NDScope()) {
            NDArray idx = rollout.ids(m.manager);
            NDArray maskArr = rollout.perAction(m.manager, rollout.mask());
            NDArray lp = TokenLogProbs.actions(m.policy.forward(idx, false), temperature());        // (B, W-1, V)
            oldLogp = TokenLogProbs.taken(lp, idx).toFloatArray();                                 // (B, W-1)
            entropy = TokenLogProbs.maskedMean(TokenLogProbs.entropy(lp), maskArr);
            refLogp = TokenLogProbs.taken(TokenLogProbs.actions(m.reference.forward(idx, false), temperature()), idx)
                    .toFloatArray();
            values = actionValues(idx).toFloatArray();
            rawScores = m.reward.scores(idx, false).toFloatArray();                                // (B, W)
        }
        double scoreSeconds = (System.nanoTime() - t0) / 1e9 - genSeconds;

        // Rewards: −β·(log π − log π_ref) per action, plus the clipped, normalised score on the last one.
        double beta = kl.coef();
        double[] score = new double[rows];
        for (int r = 0; r < rows; r++) {
            double raw = rawScores[r * width + rollout.to()[r]];
            if (!Double.isFinite(raw)) {
                throw new TrainingLoop.NonFinite(Stages.PPO + ": the reward model scored a response " + raw
                        + " at step " + step + " (prompt \"" + batch.get(r).prompt().lastUserTurn() + "\")");
            }
            double s = Math.max(-cfg.objective().rewardClip(), Math.min(cfg.objective().rewardClip(),
                    stats.normalise(raw)));
            if (!rollout.ended()[r]) {
                s -= cfg.objective().missingEosPenalty();
            }
            score[r] = s;
        }
        double[] rowKl = new double[rows];
        float[] rewards = PpoLoss.shapedRewards(rollout, oldLogp, refLogp, score, beta, rowKl);
        double klSum = 0;
        for (double k : rowKl) {
            klSum += k;
        }
        Gae.Result gae = Gae.compute(rewards, values, rows, rollout.actions(), rollout.from(), rollout.to(),
                cfg.objective().gamma(), cfg.objective().lambda());
        if (cfg.objective().whitenAdvantages()) {
            Gae.whiten(gae.advantages(), rollout.mask());
        }

        // Epochs of clipped updates over shuffled mini-batches.
        int mb = cfg.objective().miniBatches();
        int updates = cfg.objective().epochs() * mb;
        double[] sums = new double[5]; // loss, policy loss, value loss, clip fraction, approx KL
        AdamW.StepStats last = null;
        int k = 0;
        for (int epoch = 0; epoch < cfg.objective().epochs(); epoch++) {
            int[] perm = EpochOrder.permutation(rows, Seeds.mix(cfg.seed(), step, epoch));
            for (int b = 0; b < mb; b++) {
                int lo = b * rows / mb;
                int hi = (b + 1) * rows / mb;
                double[] u = update(rollout.pick(Arrays.copyOfRange(perm, lo, hi), oldLogp, values,
                        gae.advantages(), gae.returns()), step, k);
                for (int i = 0; i < sums.length; i++) {
                    sums[i] += u[i] / updates;
                }
                long optStep = step * updates + k;
                last = optimizer.step(optStep, step);
                if (criticOptimizer != null) {
                    criticOptimizer.step(optStep, step);
                }
                k++;
            }
        }

        double meanKl = klSum / rows;
        kl.update(meanKl, rows);
        double scoreMean = Arrays.stream(score).average().orElse(0);
        double scoreStd = Math.sqrt(Arrays.stream(score).map(s -> (s - scoreMean) * (s - scoreMean)).sum()
                / Math.max(1, rows - 1));
        double seconds = (System.nanoTime() - t0) / 1e9;
        lastIteration = new TrainingMetrics.PpoIteration(scoreMean, scoreStd, meanKl, kl.coef(), entropy, sums[1],
                sums[2], sums[3], sums[4], (double) generated / rows, genSeconds / seconds, generated / genSeconds);
        metrics.ppo(lastIteration);
        lastTiming = new Timing(seconds, scoreSeconds / seconds, generated);
        if ((step + 1) % cfg.evalInterval() == 0 || step == 0) {
            log.info(String.format(Locale.ROOT, "%s step %d: rollout reward %.3f ± %.3f, KL %.3f (β %.4f), entropy %.3f, "
                    + "clip fraction %.3f, approx KL %.4f, %.1f new tokens per answer; %.0f%% of %.2f s generating "
                    + "(%.0f tokens/s)", Stages.PPO, step + 1, scoreMean, scoreStd, meanKl, kl.coef(), entropy, sums[3],
                    sums[4], lastIteration.responseLength(), 100 * lastIteration.generationShare(), seconds,
                    lastIteration.rolloutTokensPerSecond()));
        }
        Map<String, Double> state = new LinkedHashMap<>();
        state.put("klCoef", kl.coef());
        state.put("klRollout", meanKl);
        state.put("rolloutRewardFinal", scoreMean);
        state.put("hackingWarnings", hackingWarnings);
        return new TrainingLoop.Iteration(sums[0], rollout.tokenCount(), last.lr(), last.gradNorm(), state);
    }

    /**
     * One clipped update's gradients on a mini-batch (per-action old log-probs, old values, advantages, returns);
     * returns its loss, policy loss, value loss, clip fraction and approximate KL. Throws instead of leaving
     * gradients of a non-finite loss for the optimizer.
     */
    private double[] update(RolloutBatch.Picked picked, long step, int k) {
        RolloutBatch b = picked.batch();
        double n = TokenLogProbs.count(b.mask());
        try (NDScope scope = new NDScope();
             GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray idx = b.ids(m.manager);
            NDArray mask = b.perAction(m.manager, b.mask());
            NDArray oldLogp = b.perAction(m.manager, picked.perAction()[0]);
            NDArray oldV = b.perAction(m.manager, picked.perAction()[1]);
            NDArray adv = b.perAction(m.manager, picked.perAction()[2]);
            NDArray ret = b.perAction(m.manager, picked.perAction()[3]);
            NDArray logits;
            NDArray values;
            if (m.critic != null) {
                logits = m.policy.forward(idx, false);
                values = actionValues(idx);
            } else {
                NDArray hidden = m.policy.hidden(idx, false);                                   // (B, W, C)
                logits = m.policy.lmHead(hidden);
                values = valueHeadOn(hidden).get(new NDIndex(":, 0:{}", b.width() - 1));
            }
            NDArray logp = TokenLogProbs.taken(TokenLogProbs.actions(logits, temperature()), idx);   // (B, W-1)
            NDArray ratio = PolicyGradient.ratio(logp, oldLogp);
            double eps = cfg.objective().clipRange();
            NDArray pgLoss = PpoLoss.policy(ratio, adv, mask, eps, n);
            NDArray vfLoss = PpoLoss.value(values, oldV, ret, mask, cfg.objective().valueClipRange(), n);
            NDArray loss = pgLoss.add(EngineArrays.scale(vfLoss, cfg.objective().vfCoef()));
            double lossValue = loss.getFloat();
            if (!Double.isFinite(lossValue)) {
                throw new TrainingLoop.NonFinite(Stages.PPO + " loss became " + lossValue + " at step " + step
                        + ", update " + k + " (lower train.learning_rate, or ppo.clip_range)");
            }
            gc.backward(loss);
            double clipFrac = PolicyGradient.clipFraction(ratio, mask, eps, eps);
            double approxKl = PolicyGradient.approxKl(logp, oldLogp, mask);
            return new double[] {lossValue, pgLoss.getFloat(), vfLoss.getFloat(), clipFrac, approxKl};
        }
    }

    private double temperature() {
        return cfg.rollout().temperature();
    }

    /** The critic's value of each action's state: (B, W) → (B, W−1). */
    private NDArray actionValues(NDArray idx) {
        long w = idx.getShape().get(1);
        NDArray v = m.critic != null ? m.critic.scores(idx, false) : valueHeadOn(m.policy.hidden(idx, false));
        return v.get(new NDIndex(":, 0:{}", w - 1));
    }

    /** (B, W, C) → (B, W) */
    private NDArray valueHeadOn(NDArray hidden) {
        return hidden.matMul(m.valueHead.transpose()).squeeze(-1);
    }

    private GenerationOptions rolloutOptions() {
        return cfg.rollout().options(stopToken);
    }

    // ------------------------------------------------------------------------------------------ evaluation

    /** The negated KL-penalised objective on held-out prompts: lower is better. */
    @Override
    public double validationLoss() {
        last = evaluate(m.policy);
        if (!start.isEmpty()) {
            checkMonitors(last);
        }
        return objectiveLoss(last);
    }

    /** Held-out answers right (demo data), NaN otherwise. */
    @Override
    public double validationAccuracy() {
        return world == null ? Double.NaN : last.correct();
    }

    private Evaluation evaluate(Gpt model) {
        // Sampled as in rollouts, with one fixed seed: the objective PPO optimises, and the same draws for every
        // policy measured, so SFT and PPO are compared on equal terms.
        HeldOutAnswers.Answers a = heldOut.sample(model);
        double[] scores = rewardModel.normalised(a.sequences());
        return new Evaluation(Arrays.stream(scores).average().orElse(0), a.truthMean(), a.truthStd(),
                a.correctFraction(), heldOut.exactKl(model, m.reference, a), a.length(), a.replies(), scores);
    }

    /**
     * Reward hacking shows as the reward model's score running ahead of what it stands for: answers growing longer,
     * the policy drifting far from its start, or (where ground truth exists) the score rising without the truth.
     */
    private void checkMonitors(Evaluation e) {
        PpoConfig.Monitors mon = cfg.monitors();
        double startLength = start.getOrDefault("responseLengthSft", e.length());
        if (e.length() > mon.lengthRatio() * startLength) {
            warn("response_length", String.format(Locale.ROOT, "mean response length %.1f tokens is over %.1f× the "
                    + "SFT policy's %.1f", e.length(), mon.lengthRatio(), startLength));
        }
        if (e.kl() > mon.kl()) {
            warn("kl", String.format(Locale.ROOT, "held-out KL to the reference is %.2f nats per response, over "
                    + "monitors.kl = %.2f", e.kl(), mon.kl()));
        }
        if (world != null && start.containsKey("truthScoreSft")) {
            double rewardGain = e.reward() - start.get("rewardSft");
            double truthGain = (e.truth() - start.get("truthScoreSft")) / Math.max(start.get("truthScoreStdSft"), 1e-6);
            if (rewardGain - truthGain > mon.rewardGap()) {
                warn("reward_gap", String.format(Locale.ROOT, "the reward model's score rose %.2f std while the "
                        + "ground truth moved %.2f std: the policy may be gaming the reward model", rewardGain,
                        truthGain));
            }
        }
    }

    private void warn(String monitor, String message) {
        hackingWarnings++;
        metrics.hackingWarning(monitor);
        log.warn("{}: possible reward hacking ({}): {}", Stages.PPO, monitor, message);
    }

    @Override
    public Map<String, Double> finalMetrics() {
        if (last == null) {
            validationLoss();
        } // else the loop's last step has just evaluated this policy (and run the monitors on it)
        Map<String, Double> after = new LinkedHashMap<>();
        after.put("rewardPpo", last.reward());
        if (world != null) {
            after.put("truthPpo", last.correct());
            after.put("truthScorePpo", last.truth());
        }
        after.put("responseLengthPpo", last.length());
        // DESIGN.md's klFinal: the exact KL on held-out prompts (the rollout estimate is klRollout).
        after.put("klFinal", last.kl());
        after.put("hackingWarnings", hackingWarnings);
        log.info("{} held-out: reward {} → {}, KL {}", Stages.PPO, TrainingLoop.fmt(start.getOrDefault("rewardSft",
                Double.NaN)), TrainingLoop.fmt(last.reward()), TrainingLoop.fmt(last.kl()));
        return after;
    }

    /** Held-out questions with the SFT policy's answer and the PPO policy's, and what each scores. */
    @Override
    public List<String> samples() {
        int count = Math.min(cfg.sampleCount(), validation.size());
        if (count == 0) {
            return List.of();
        }
        // The SFT policy's answers as measured at the start (same weights, same seed); a resumed run measures again.
        Evaluation before = startEvaluation != null ? startEvaluation : evaluate(m.reference);
        Evaluation after = last != null ? last : evaluate(m.policy);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String q = validation.get(i).prompt().lastUserTurn();
            out.add("Q: " + q + "\n" + line("SFT", q, before, i) + "\n" + line("PPO", q, after, i));
        }
        return out;
    }

    private String line(String who, String q, Evaluation e, int i) {
        String truth = world == null ? "" : String.format(Locale.ROOT, ", truth %+.2f", world.score(q, e.replies().get(i)));
        return String.format(Locale.ROOT, "%s (reward %+.2f%s): %s", who, e.scores()[i], truth, e.replies().get(i));
    }

    @Override
    public Map<String, Map<String, HostTensor>> extraTensors() {
        Map<String, Map<String, HostTensor>> out = new LinkedHashMap<>();
        if (m.critic != null) {
            out.put(PpoStage.VALUE_MODEL, m.critic.snapshot());
            out.put(PpoStage.VALUE_OPTIMIZER, criticOptimizer.snapshotState());
        } else {
            out.put(PpoStage.VALUE_HEAD, Map.of("v_head.weight", HostTensor.of(m.valueHead)));
        }
        return out;
    }

    @Override
    public Map<String, Double> progressMetrics() {
        if (lastIteration == null) {
            return Map.of();
        }
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("reward", lastIteration.rewardMean());
        out.put("kl", lastIteration.kl());
        // The iteration's throughput and where its time went: generating, scoring (the four models' forward
        // passes over the rollout), and the rest (the epochs of updates). Read by `forge bench rollout`.
        out.put("rolloutTokensPerSecond", lastIteration.rolloutTokensPerSecond());
        out.put("generationShare", lastIteration.generationShare());
        out.put("scoringShare", lastTiming.scoringShare());
        out.put("iterationSeconds", lastTiming.seconds());
        out.put("newTokens", (double) lastTiming.newTokens());
        return out;
    }
}
