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
import forge.rewards.RewardStats;
import forge.rollout.Prompt;
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
    private static final int SCORE_ROWS = 64;
    private static final long EVAL_SEED = 0x5eed;

    record EncodedPrompt(Prompt prompt, int[] ids) {}

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
        this.stopToken = tokenizer.id(SpecialToken.END_OF_TURN);
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

    /** A rollout batch on the host: sequences right-padded to width, and per-action arrays (rows · (width−1)). */
    private record Rollout(int rows, int width, long[] tokens, int[] from, int[] to, float[] mask, float[] oldLogp,
                           float[] oldValues, float[] advantages, float[] returns) {
        int actions() {
            return width - 1;
        }

        /** The given rows, narrowed to the widest of them. */
        Rollout rows(int[] pick) {
            int w = 0;
            for (int r : pick) {
                w = Math.max(w, to[r] + 1);
            }
            int n = pick.length;
            long[] t = new long[n * w];
            float[][] out = new float[5][n * (w - 1)];
            float[][] in = {mask, oldLogp, oldValues, advantages, returns};
            int[] f = new int[n];
            int[] e = new int[n];
            for (int i = 0; i < n; i++) {
                int r = pick[i];
                System.arraycopy(tokens, r * width, t, i * w, w);
                for (int a = 0; a < 5; a++) {
                    System.arraycopy(in[a], r * (width - 1), out[a], i * (w - 1), w - 1);
                }
                f[i] = from[r];
                e[i] = to[r];
            }
            return new Rollout(n, w, t, f, e, out[0], out[1], out[2], out[3], out[4]);
        }
    }

    @Override
    public TrainingLoop.Iteration iterate(long step) {
        long t0 = System.nanoTime();
        int rows = cfg.train().batchSize();
        List<EncodedPrompt> batch = new ArrayList<>(rows);
        for (int i = 0; i < rows; i++) {
            batch.add(train.get(order.item(step * rows + i)));
        }
        List<int[]> sequences = generate(m.policy, batch, rolloutOptions(), Seeds.mix(cfg.seed(), step));
        long generated = 0;
        for (int r = 0; r < rows; r++) {
            generated += sequences.get(r).length - batch.get(r).ids().length;
        }
        double genSeconds = (System.nanoTime() - t0) / 1e9;

        int width = 0;
        for (int[] s : sequences) {
            width = Math.max(width, s.length);
        }
        int actions = width - 1;
        long[] tokens = new long[rows * width];
        int[] from = new int[rows];
        int[] to = new int[rows];
        boolean[] ended = new boolean[rows];
        float[] mask = new float[rows * actions];
        long tokenCount = 0;
        for (int r = 0; r < rows; r++) {
            int[] s = sequences.get(r);
            for (int i = 0; i < width; i++) {
                tokens[r * width + i] = i < s.length ? s[i] : stopToken; // padding: never an action (mask 0)
            }
            from[r] = batch.get(r).ids().length - 1;
            to[r] = s.length - 1;
            ended[r] = s[s.length - 1] == stopToken && s.length > batch.get(r).ids().length;
            for (int j = from[r]; j < to[r]; j++) {
                mask[r * actions + j] = 1;
            }
            tokenCount += s.length;
        }

        float[] oldLogp;
        float[] refLogp;
        float[] values;
        float[] rawScores;
        double entropy;
        try (NDScope scope = new NDScope()) {
            NDArray idx = m.manager.create(tokens, new Shape(rows, width));
            NDArray maskArr = EngineArrays.of(m.manager, mask, new Shape(rows, actions));
            NDArray logits = m.policy.forward(idx, false);                                     // (B, W, V)
            NDArray lp = actionLogProbs(logits, idx);                                          // (B, W-1, V)
            oldLogp = taken(lp, idx).toFloatArray();                                           // (B, W-1)
            entropy = maskedMean(lp.exp().mul(lp).sum(new int[] {-1}).neg(), maskArr);
            refLogp = taken(actionLogProbs(m.reference.forward(idx, false), idx), idx).toFloatArray();
            values = actionValues(idx).toFloatArray();
            rawScores = m.reward.scores(idx, false).toFloatArray();                            // (B, W)
        }
        double scoreSeconds = (System.nanoTime() - t0) / 1e9 - genSeconds;

        // Rewards: −β·(log π − log π_ref) per action, plus the clipped, normalised score on the last one.
        double beta = kl.coef();
        float[] rewards = new float[rows * actions];
        double[] score = new double[rows];
        double klSum = 0;
        for (int r = 0; r < rows; r++) {
            double raw = rawScores[r * width + to[r]];
            if (!Double.isFinite(raw)) {
                throw new TrainingLoop.NonFinite(Stages.PPO + ": the reward model scored a response " + raw
                        + " at step " + step + " (prompt \"" + batch.get(r).prompt().lastUserTurn() + "\")");
            }
            double s = Math.max(-cfg.objective().rewardClip(), Math.min(cfg.objective().rewardClip(),
                    stats.normalise(raw)));
            if (!ended[r]) {
                s -= cfg.objective().missingEosPenalty();
            }
            score[r] = s;
            double rowKl = 0;
            for (int j = from[r]; j < to[r]; j++) {
                int i = r * actions + j;
                double k = oldLogp[i] - refLogp[i];
                rowKl += k;
                rewards[i] = (float) (-beta * k);
            }
            rewards[r * actions + to[r] - 1] += (float) s;
            klSum += rowKl;
        }
        Gae.Result gae = Gae.compute(rewards, values, rows, actions, from, to, cfg.objective().gamma(),
                cfg.objective().lambda());
        if (cfg.objective().whitenAdvantages()) {
            Gae.whiten(gae.advantages(), mask);
        }
        Rollout rollout = new Rollout(rows, width, tokens, from, to, mask, oldLogp, values, gae.advantages(),
                gae.returns());

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
                double[] u = update(rollout.rows(Arrays.copyOfRange(perm, lo, hi)), step, k);
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
        return new TrainingLoop.Iteration(sums[0], tokenCount, last.lr(), last.gradNorm(), state);
    }

    /**
     * One clipped update's gradients on a mini-batch; returns its loss, policy loss, value loss, clip fraction and
     * approximate KL. Throws instead of leaving gradients of a non-finite loss for the optimizer.
     */
    private double[] update(Rollout b, long step, int k) {
        Shape shape = new Shape(b.rows(), b.actions());
        double n = 0;
        for (float x : b.mask()) {
            n += x;
        }
        try (NDScope scope = new NDScope();
             GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray idx = m.manager.create(b.tokens(), new Shape(b.rows(), b.width()));
            NDArray mask = EngineArrays.of(m.manager, b.mask(), shape);
            NDArray adv = EngineArrays.of(m.manager, b.advantages(), shape);
            NDArray ret = EngineArrays.of(m.manager, b.returns(), shape);
            NDArray oldV = EngineArrays.of(m.manager, b.oldValues(), shape);
            NDArray oldLogp = EngineArrays.of(m.manager, b.oldLogp(), shape);
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
            NDArray logp = taken(actionLogProbs(logits, idx), idx);                              // (B, W-1)
            NDArray ratio = logp.sub(oldLogp).exp();
            double eps = cfg.objective().clipRange();
            NDArray pg = adv.mul(ratio).neg().maximum(adv.mul(ratio.clip(1 - eps, 1 + eps)).neg());
            double ev = cfg.objective().valueClipRange();
            NDArray vClipped = oldV.add(values.sub(oldV).clip(-ev, ev));
            NDArray vf = values.sub(ret).square().maximum(vClipped.sub(ret).square());
            NDArray pgLoss = maskedMeanArray(pg, mask, n);
            NDArray vfLoss = EngineArrays.scale(maskedMeanArray(vf, mask, n), 0.5);
            NDArray loss = pgLoss.add(EngineArrays.scale(vfLoss, cfg.objective().vfCoef()));
            double lossValue = loss.getFloat();
            if (!Double.isFinite(lossValue)) {
                throw new TrainingLoop.NonFinite(Stages.PPO + " loss became " + lossValue + " at step " + step
                        + ", update " + k + " (lower train.learning_rate, or ppo.clip_range)");
            }
            gc.backward(loss);
            double clipFrac = maskedMean(ratio.sub(EngineArrays.scalar(m.manager, 1)).abs()
                    .gt(eps).toType(ai.djl.ndarray.types.DataType.FLOAT32, false), mask);
            NDArray d = logp.sub(oldLogp);
            double approxKl = 0.5 * maskedMean(d.mul(d), mask);
            return new double[] {lossValue, pgLoss.getFloat(), vfLoss.getFloat(), clipFrac, approxKl};
        }
    }

    /** log-softmax of the logits at every action position, at the rollout temperature: (B, W, V) → (B, W−1, V). */
    private NDArray actionLogProbs(NDArray logits, NDArray idx) {
        long w = idx.getShape().get(1);
        NDArray l = logits.get(new NDIndex(":, 0:{}, :", w - 1));
        return EngineArrays.scale(l, 1.0 / cfg.rollout().temperature()).logSoftmax(-1);
    }

    /** The log-probability of each action's token: (B, W−1, V) → (B, W−1). */
    private static NDArray taken(NDArray logProbs, NDArray idx) {
        long w = idx.getShape().get(1);
        // Owned: gather's backward reads the ids after the caller's arrays may be closed.
        NDArray next = EngineArrays.owned(idx.get(new NDIndex(":, 1:{}", w)));
        return logProbs.gather(next.expandDims(-1), -1).squeeze(-1);
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

    private static NDArray maskedMeanArray(NDArray x, NDArray mask, double n) {
        return EngineArrays.scale(x.mul(mask).sum(), 1.0 / Math.max(n, 1));
    }

    private static double maskedMean(NDArray x, NDArray mask) {
        double n = mask.sum().getFloat();
        return n == 0 ? 0 : x.mul(mask).sum().getFloat() / n;
    }

    // ------------------------------------------------------------------------------------------ generation

    private GenerationOptions rolloutOptions() {
        return new GenerationOptions(cfg.rollout().maxNewTokens(), cfg.rollout().temperature(), cfg.rollout().topK(),
                cfg.rollout().topP(), stopToken, true);
    }

    /** Full sequences (prompt then reply) for every prompt, in one left-padded batch. */
    private static List<int[]> generate(Gpt model, List<EncodedPrompt> prompts, GenerationOptions opts, long seed) {
        return List.of(model.generateBatch(prompts.stream().map(EncodedPrompt::ids).toArray(int[][]::new), opts, seed));
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
        List<int[]> seqs = generate(model, validation, rolloutOptions(), EVAL_SEED);
        int n = seqs.size();
        double[] scores = rewardScores(seqs);
        List<String> replies = new ArrayList<>(n);
        double truth = 0;
        double truthSq = 0;
        double correct = 0;
        double length = 0;
        for (int i = 0; i < n; i++) {
            int promptLength = validation.get(i).ids().length;
            String reply = ChatEncoder.reply(tokenizer, seqs.get(i), promptLength);
            replies.add(reply);
            length += seqs.get(i).length - promptLength;
            if (world != null) {
                String q = validation.get(i).prompt().lastUserTurn();
                double t = world.score(q, reply);
                truth += t;
                truthSq += t * t;
                correct += world.correct(q, reply) ? 1 : 0;
            }
        }
        double truthMean = truth / n;
        double truthStd = Math.sqrt(Math.max(0, truthSq / n - truthMean * truthMean));
        return new Evaluation(Arrays.stream(scores).average().orElse(0), truthMean, truthStd, correct / n,
                exactKl(model, seqs), length / n, replies, scores);
    }

    /** Normalised reward-model scores of whole sequences, read at each one's last token. */
    private double[] rewardScores(List<int[]> seqs) {
        double[] out = new double[seqs.size()];
        for (int lo = 0; lo < seqs.size(); lo += SCORE_ROWS) {
            List<int[]> chunk = seqs.subList(lo, Math.min(seqs.size(), lo + SCORE_ROWS));
            int w = chunk.stream().mapToInt(s -> s.length).max().orElse(1);
            try (NDScope scope = new NDScope()) {
                float[] s = m.reward.scores(padded(chunk, w), false).toFloatArray();
                for (int r = 0; r < chunk.size(); r++) {
                    out[lo + r] = stats.normalise(s[r * w + chunk.get(r).length - 1]);
                }
            }
        }
        return out;
    }

    /**
     * Mean over sequences of the exact KL(π ‖ π_ref) summed along each response: Σ over the response's positions of
     * Σ_v π(v)(log π(v) − log π_ref(v)), over the whole vocabulary rather than the sampled token, so it is never
     * negative and needs no sampling.
     */
    private double exactKl(Gpt model, List<int[]> seqs) {
        if (model == m.reference) {
            return 0;
        }
        double total = 0;
        for (int lo = 0; lo < seqs.size(); lo += SCORE_ROWS) {
            List<int[]> chunk = seqs.subList(lo, Math.min(seqs.size(), lo + SCORE_ROWS));
            int w = chunk.stream().mapToInt(s -> s.length).max().orElse(1);
            if (w < 2) {
                continue;
            }
            float[] mask = new float[chunk.size() * (w - 1)];
            for (int r = 0; r < chunk.size(); r++) {
                int from = validation.get(lo + r).ids().length - 1;
                for (int j = from; j < chunk.get(r).length - 1; j++) {
                    mask[r * (w - 1) + j] = 1;
                }
            }
            try (NDScope scope = new NDScope()) {
                NDArray idx = padded(chunk, w);
                NDArray lp = actionLogProbs(model.forward(idx, false), idx);
                NDArray lq = actionLogProbs(m.reference.forward(idx, false), idx);
                NDArray perPosition = lp.exp().mul(lp.sub(lq)).sum(new int[] {-1});             // (B, W-1)
                total += perPosition.mul(EngineArrays.of(m.manager, mask, new Shape(chunk.size(), w - 1)))
                        .sum().getFloat();
            }
        }
        return total / seqs.size();
    }

    private NDArray padded(List<int[]> seqs, int width) {
        long[] ids = new long[seqs.size() * width];
        for (int r = 0; r < seqs.size(); r++) {
            int[] s = seqs.get(r);
            for (int i = 0; i < width; i++) {
                ids[r * width + i] = i < s.length ? s[i] : stopToken;
            }
        }
        return m.manager.create(ids, new Shape(seqs.size(), width));
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
