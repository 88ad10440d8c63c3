package forge.stage.grpo;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import forge.chat.ChatEncoder;
import forge.data.EpochOrder;
import forge.data.Seeds;
import forge.demo.DemoWorld;
import forge.model.Gpt;
import forge.optim.AdamW;
import forge.rewards.Completion;
import forge.rewards.Rewards;
import forge.rollout.EncodedPrompt;
import forge.rollout.HeldOutAnswers;
import forge.rollout.PolicyGradient;
import forge.rollout.RolloutBatch;
import forge.rollout.TokenLogProbs;
import forge.tensor.HostTensor;
import forge.tokenizer.Tokenizer;
import forge.train.ParentModel;
import forge.train.TrainingLoop;
import forge.train.TrainingMetrics;
import forge.workflow.Stages;
import io.micrometer.core.instrument.Tags;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * One GRPO step per loop step: {@code train.batch_size} prompts, each answered {@code grpo.group_size} times with the
 * KV cache; every answer rewarded by the weighted reward sources; advantages relative to the answer's group (no
 * critic); then {@code grpo.epochs} passes of the clipped surrogate over shuffled mini-batches, with a k3 KL penalty
 * to the reference when β &gt; 0.
 *
 * <p>Nothing carries from one step to the next but the weights, the optimizer moments and two counters in the
 * checkpointed state: the step's prompts come from a seeded epoch order, its samples from RNGs seeded by (seed, step),
 * its groups are formed and consumed within the step. A resumed run therefore repeats the original bit for bit.
 */
final class GrpoTask implements TrainingLoop.IterationTask {
    private static final Logger log = LoggerFactory.getLogger(GrpoTask.class);

    /** The policy (trained) and, when β &gt; 0, its frozen reference; the parent rebuilds one when β = 0. */
    record Models(NDManager manager, Gpt policy, Gpt reference, ParentModel parent, long seed) {
        /** Applies f to the reference: the one held, or one built from the parent's weights for this call only. */
        <T> T withReference(Function<Gpt, T> f) {
            if (reference != null) {
                return f.apply(reference);
            }
            try (Gpt ref = Gpt.create(manager, parent.config(), seed)) {
                parent.loadInto(ref);
                return f.apply(ref);
            }
        }
    }

    /** Held-out figures of a policy's sampled answers. */
    record Evaluation(HeldOutAnswers.Answers answers, Rewards.Scored scored, double kl) {
        double reward() {
            return scored.totalMean();
        }
    }

    private final GrpoConfig cfg;
    private final Models m;
    private final AdamW optimizer;
    private final Tokenizer tokenizer;
    private final Rewards rewards;
    private final List<EncodedPrompt> train;
    private final HeldOutAnswers heldOut;
    private final DemoWorld world;
    private final TrainingMetrics metrics;
    private final EpochOrder order;
    private final int stopToken;
    private final Map<String, Double> start = new LinkedHashMap<>();
    private double rewardErrors;
    private Evaluation last;
    private Evaluation startEvaluation;
    private Map<String, Double> lastIteration = Map.of();

    /** @param saved a resumed run's state metrics (error count, start figures); empty for a fresh start */
    GrpoTask(GrpoConfig cfg, Models models, AdamW optimizer, Tokenizer tokenizer, Rewards rewards,
             List<EncodedPrompt> train, List<EncodedPrompt> validation, DemoWorld world, TrainingMetrics metrics,
             Map<String, Double> saved) {
        this.cfg = cfg;
        this.m = models;
        this.optimizer = optimizer;
        this.tokenizer = tokenizer;
        this.rewards = rewards;
        this.train = train;
        this.world = world;
        this.metrics = metrics;
        this.stopToken = ChatEncoder.endOfTurn(tokenizer);
        this.heldOut = new HeldOutAnswers(validation.subList(0, Math.min(validation.size(), cfg.evalPrompts())),
                cfg.rollout(), stopToken, tokenizer, world, models.manager());
        this.order = new EpochOrder(train.size(), cfg.seed(), 0x6790);
        this.rewardErrors = saved.getOrDefault("rewardErrors", 0.0);
        start.putAll(saved);
    }

    /** The SFT policy's held-out figures, measured before the first update. */
    Map<String, Double> startMetrics() {
        startEvaluation = evaluate(m.policy(), true);
        last = startEvaluation;
        Map<String, Double> out = new LinkedHashMap<>(figures(last, "Sft"));
        if (cfg.passAtK() > 0 && world != null) {
            out.put("passAtKSft", heldOut.sample(m.policy(), cfg.passAtK()).passAtK());
        }
        return out;
    }

    void rememberStart(Map<String, Double> figures) {
        start.putAll(figures);
    }

    double lastValidationLoss() {
        return objectiveLoss(last);
    }

    private double objectiveLoss(Evaluation e) {
        return -(e.reward() - cfg.klCoef() * e.kl());
    }

    // ------------------------------------------------------------------------------------------ one step

    @Override
    public TrainingLoop.Iteration iterate(long step) {
        long t0 = System.nanoTime();
        int prompts = cfg.train().batchSize();
        int g = cfg.objective().groupSize();
        int rows = prompts * g;
        int[][] ids = new int[rows][];
        int[] promptLengths = new int[rows];
        List<EncodedPrompt> asked = new ArrayList<>(rows);
        for (int i = 0; i < prompts; i++) {
            EncodedPrompt p = train.get(order.item(step * prompts + i));
            for (int j = 0; j < g; j++) {
                ids[i * g + j] = p.ids();
                promptLengths[i * g + j] = p.ids().length;
                asked.add(p);
            }
        }
        // Row r samples with its own RNG (seed + r): the G answers of a prompt are independent draws.
        List<int[]> sequences = List.of(m.policy().generateBatch(ids, cfg.rollout().options(stopToken),
                Seeds.mix(cfg.seed(), step)));
        RolloutBatch rollout = RolloutBatch.of(sequences, promptLengths, stopToken);
        long generated = rollout.tokenCount() - Arrays.stream(promptLengths).sum();
        double genSeconds = (System.nanoTime() - t0) / 1e9;

        List<Completion> completions = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            completions.add(new Completion(asked.get(r).prompt(),
                    ChatEncoder.reply(tokenizer, sequences.get(r), promptLengths[r]), sequences.get(r),
                    rollout.ended()[r]));
        }
        Rewards.Scored scored = rewards.score(completions);
        rewardErrors += scored.errors();
        double[] adv = GrpoLoss.advantages(scored.total(), g, cfg.objective().scaleRewards());
        float[] advantages = GrpoLoss.perAction(rollout, adv);

        float[] oldLogp;
        float[] refLogp;
        double entropy;
        double beta = cfg.klCoef();
        try (NDScope scope = new NDScope()) {
            NDArray idx = rollout.ids(m.manager());
            NDArray lp = TokenLogProbs.actions(m.policy().forward(idx, false), temperature());    // (B, W-1, V)
            oldLogp = TokenLogProbs.taken(lp, idx).toFloatArray();                                 // (B, W-1)
            entropy = TokenLogProbs.maskedMean(TokenLogProbs.entropy(lp),
                    rollout.perAction(m.manager(), rollout.mask()));
            refLogp = m.reference() == null ? new float[oldLogp.length]
                    : TokenLogProbs.taken(TokenLogProbs.actions(m.reference().forward(idx, false), temperature()),
                    idx).toFloatArray();
        }

        int mb = cfg.objective().miniBatches();
        int updates = cfg.objective().epochs() * mb;
        double[] sums = new double[3]; // loss, clip fraction, approx KL
        AdamW.StepStats stats = null;
        int k = 0;
        for (int epoch = 0; epoch < cfg.objective().epochs(); epoch++) {
            int[] perm = EpochOrder.permutation(rows, Seeds.mix(cfg.seed(), step, epoch));
            for (int b = 0; b < mb; b++) {
                int[] pick = Arrays.copyOfRange(perm, b * rows / mb, (b + 1) * rows / mb);
                double[] u = update(rollout.pick(pick, oldLogp, advantages, refLogp), step, k);
                for (int i = 0; i < sums.length; i++) {
                    sums[i] += u[i] / updates;
                }
                stats = optimizer.step(step * updates + k, step);
                k++;
            }
        }

        double seconds = (System.nanoTime() - t0) / 1e9;
        double mean = scored.totalMean();
        double std = 0;
        for (double r : scored.total()) {
            std += (r - mean) * (r - mean);
        }
        std = Math.sqrt(std / Math.max(1, rows - 1));
        Map<String, Double> it = new LinkedHashMap<>();
        it.put("reward", mean);
        it.put("rewardStd", std);
        it.put("flatGroupFraction", (double) GrpoLoss.flatGroups(scored.total(), g) / prompts);
        if (m.reference() != null) {
            it.put("kl", sampledKl(rollout, oldLogp, refLogp));
        }
        it.put("entropy", entropy);
        it.put("clipFraction", sums[1]);
        it.put("approxKl", sums[2]);
        it.put("responseLength", (double) generated / rows);
        it.put("generationShare", genSeconds / seconds);
        it.put("rolloutTokensPerSecond", generated / genSeconds);
        it.put("iterationSeconds", seconds);
        lastIteration = it;
        export(it, scored);
        if ((step + 1) % cfg.evalInterval() == 0 || step == 0) {
            log.info(String.format(Locale.ROOT, "%s step %d: reward %.3f ± %.3f (%s), %.0f%% of groups all equal, "
                            + "entropy %.3f, clip fraction %.3f, approx KL %.4f, %.1f new tokens per answer; %.0f%% of "
                            + "%.2f s generating", Stages.GRPO, step + 1, mean, std, perSource(scored),
                    100 * it.get("flatGroupFraction"), entropy, sums[1], sums[2], it.get("responseLength"),
                    100 * it.get("generationShare"), seconds));
        }
        Map<String, Double> state = new LinkedHashMap<>();
        state.put("rewardErrors", rewardErrors);
        state.put("rolloutRewardFinal", mean);
        if (it.containsKey("kl")) {
            state.put("klRollout", it.get("kl"));
        }
        return new TrainingLoop.Iteration(sums[0], rollout.tokenCount(), stats.lr(), stats.gradNorm(), state);
    }

    /**
     * One clipped update's gradients on a mini-batch (per-action old log-probs, advantages, reference log-probs);
     * returns its loss, clip fraction and approximate KL. Throws instead of leaving gradients of a non-finite loss for
     * the optimizer.
     */
    private double[] update(RolloutBatch.Picked picked, long step, int k) {
        RolloutBatch b = picked.batch();
        try (NDScope scope = new NDScope();
             GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray idx = b.ids(m.manager());
            NDArray mask = b.perAction(m.manager(), b.mask());
            NDArray oldLogp = b.perAction(m.manager(), picked.perAction()[0]);
            NDArray adv = b.perAction(m.manager(), picked.perAction()[1]);
            NDArray ref = m.reference() == null ? null : b.perAction(m.manager(), picked.perAction()[2]);
            NDArray weights = b.perAction(m.manager(), GrpoLoss.weights(b, cfg.objective().loss()));
            NDArray logp = TokenLogProbs.taken(TokenLogProbs.actions(m.policy().forward(idx, false), temperature()),
                    idx);                                                                        // (B, W-1)
            NDArray ratio = PolicyGradient.ratio(logp, oldLogp);
            GrpoConfig.Objective o = cfg.objective();
            NDArray loss = GrpoLoss.aggregate(GrpoLoss.perToken(ratio, adv, logp, ref, cfg.klCoef(), o.clipLow(),
                    o.clipHigh()), weights);
            double lossValue = loss.getFloat();
            if (!Double.isFinite(lossValue)) {
                throw new TrainingLoop.NonFinite(Stages.GRPO + " loss became " + lossValue + " at step " + step
                        + ", update " + k + " (lower train.learning_rate, or grpo.clip_range)");
            }
            gc.backward(m.policy().scaleForBackward(loss));
            return new double[] {lossValue, PolicyGradient.clipFraction(ratio, mask, o.clipLow(), o.clipHigh()),
                    PolicyGradient.approxKl(logp, oldLogp, mask)};
        }
    }

    /** Mean over the batch's answers of Σ (log π − log π_ref) along each: the sampled KL estimate, as PPO logs it. */
    private static double sampledKl(RolloutBatch b, float[] logp, float[] refLogp) {
        double total = 0;
        for (int r = 0; r < b.rows(); r++) {
            for (int j = b.from()[r]; j < b.to()[r]; j++) {
                total += logp[r * b.actions() + j] - refLogp[r * b.actions() + j];
            }
        }
        return total / b.rows();
    }

    private void export(Map<String, Double> it, Rewards.Scored scored) {
        metrics.gauge("forge_grpo_reward_mean", "mean combined reward of the step's answers", it.get("reward"));
        metrics.gauge("forge_grpo_reward_std", "standard deviation of the step's combined rewards", it.get("rewardStd"));
        for (int s = 0; s < rewards.size(); s++) {
            metrics.gauge("forge_grpo_source_reward_mean", "mean reward of one source over the step's answers",
                    Tags.of("source", rewards.names().get(s)), scored.mean(s));
        }
        metrics.gauge("forge_grpo_flat_group_fraction", "fraction of prompts whose answers all scored the same "
                + "(they carry no signal)", it.get("flatGroupFraction"));
        metrics.gauge("forge_grpo_reward_errors", "answers a verifier failed on, in this run", rewardErrors);
        if (it.containsKey("kl")) {
            metrics.gauge("forge_grpo_kl", "mean per-answer sampled KL to the reference", it.get("kl"));
        }
        metrics.gauge("forge_grpo_entropy", "mean per-token entropy of the policy on its answers", it.get("entropy"));
        metrics.gauge("forge_grpo_clip_fraction", "fraction of tokens whose ratio was clipped", it.get("clipFraction"));
        metrics.gauge("forge_grpo_response_length", "mean answer length in tokens", it.get("responseLength"));
        metrics.gauge("forge_grpo_generation_share", "share of the step's time spent generating",
                it.get("generationShare"));
    }

    private String perSource(Rewards.Scored scored) {
        List<String> parts = new ArrayList<>();
        for (int s = 0; s < rewards.size(); s++) {
            parts.add(String.format(Locale.ROOT, "%s %.3f", rewards.names().get(s), scored.mean(s)));
        }
        return String.join(", ", parts);
    }

    private double temperature() {
        return cfg.rollout().temperature();
    }

    // ------------------------------------------------------------------------------------------ evaluation

    /** The negated KL-penalised reward on held-out prompts: lower is better. */
    @Override
    public double validationLoss() {
        last = evaluate(m.policy(), false);
        return objectiveLoss(last);
    }

    /** Held-out answers right (demo data), NaN otherwise. */
    @Override
    public double validationAccuracy() {
        return world == null ? Double.NaN : last.answers().correctFraction();
    }

    /** @param untrained the policy is still the reference, so its KL to it is 0 without measuring */
    private Evaluation evaluate(Gpt model, boolean untrained) {
        HeldOutAnswers.Answers a = heldOut.sample(model);
        List<Completion> cs = new ArrayList<>(a.size());
        for (int i = 0; i < a.size(); i++) {
            cs.add(new Completion(heldOut.prompts().get(a.promptOf(i)).prompt(), a.replies().get(i),
                    a.sequences().get(i), a.sequences().get(i)[a.sequences().get(i).length - 1] == stopToken));
        }
        double kl = untrained ? 0 : m.withReference(ref -> heldOut.exactKl(model, ref, a));
        return new Evaluation(a, rewards.score(cs), kl);
    }

    /** reward, per-source reward, truth and length of one evaluation, keys suffixed by who answered. */
    private Map<String, Double> figures(Evaluation e, String who) {
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("reward" + who, e.reward());
        for (int s = 0; s < rewards.size(); s++) {
            out.put("reward" + who + "_" + rewards.names().get(s), e.scored().mean(s));
        }
        if (world != null) {
            // DESIGN.md's contract: truth* is the fraction of held-out prompts answered right.
            out.put("truth" + who, e.answers().correctFraction());
            out.put("truthScore" + who, e.answers().truthMean());
        }
        out.put("responseLength" + who, e.answers().length());
        return out;
    }

    @Override
    public Map<String, Double> finalMetrics() {
        if (last == null) {
            validationLoss();
        } // else the loop's last step has just evaluated this policy
        Map<String, Double> after = new LinkedHashMap<>(figures(last, "Grpo"));
        // DESIGN.md's klFinal: the exact KL on held-out prompts (the rollout estimate is klRollout).
        after.put("klFinal", last.kl());
        after.put("rewardErrors", rewardErrors);
        if (cfg.passAtK() > 0 && world != null) {
            after.put("passAtKGrpo", heldOut.sample(m.policy(), cfg.passAtK()).passAtK());
        }
        log.info("{} held-out: reward {} → {}{}, KL {}", Stages.GRPO,
                TrainingLoop.fmt(start.getOrDefault("rewardSft", Double.NaN)), TrainingLoop.fmt(last.reward()),
                world == null ? "" : ", right answers " + TrainingLoop.fmt(start.getOrDefault("truthSft", Double.NaN))
                        + " → " + TrainingLoop.fmt(last.answers().correctFraction()), TrainingLoop.fmt(last.kl()));
        return after;
    }

    /** Held-out questions with the SFT policy's answer and the GRPO policy's, and what each scores. */
    @Override
    public List<String> samples() {
        int count = Math.min(cfg.sampleCount(), heldOut.prompts().size());
        if (count == 0) {
            return List.of();
        }
        // The SFT policy's answers as measured at the start (same weights, same seed); a resumed run measures again.
        Evaluation before = startEvaluation != null ? startEvaluation : m.withReference(ref -> evaluate(ref, true));
        Evaluation after = last != null ? last : evaluate(m.policy(), false);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String q = heldOut.prompts().get(i).prompt().lastUserTurn();
            out.add("Q: " + q + "\n" + line("SFT", before, i) + "\n" + line("GRPO", after, i));
        }
        return out;
    }

    private String line(String who, Evaluation e, int i) {
        String truth = world == null ? "" : String.format(Locale.ROOT, ", truth %+.2f", e.answers().truth()[i]);
        return String.format(Locale.ROOT, "%s (reward %+.2f%s): %s", who, e.scored().total()[i], truth,
                e.answers().replies().get(i));
    }

    @Override
    public Map<String, Map<String, HostTensor>> extraTensors() {
        return Map.of();
    }

    @Override
    public Map<String, Double> progressMetrics() {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String key : List.of("reward", "kl", "flatGroupFraction", "rolloutTokensPerSecond", "generationShare",
                "iterationSeconds")) {
            if (lastIteration.containsKey(key)) {
                out.put(key, lastIteration.get(key));
            }
        }
        return out;
    }
}
