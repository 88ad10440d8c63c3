package forge.stage.reward;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.chat.Turn;
import forge.checkpoint.CheckpointFile;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.data.SourceSpec;
import forge.data.UriOpener;
import forge.demo.DemoWorld;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.optim.AdamW;
import forge.preference.EncodedGroup;
import forge.preference.PreferenceBatch;
import forge.preference.PreferenceBatchSampler;
import forge.preference.PreferenceDocuments;
import forge.preference.PreferenceEncoder;
import forge.preference.PreferenceGroup;
import forge.preference.PreferenceSplit;
import forge.tensor.EngineArrays;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.train.KeepAlive;
import forge.train.MemoryCheck;
import forge.train.ParentModel;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainState;
import forge.train.TrainingLoop;
import forge.train.TrainingMetrics;
import forge.workflow.Stages;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Reward modeling: the parent's trunk with a scalar head read at each response's last token, trained on human
 * comparisons with the pairwise loss −log σ(r_chosen − r_rejected − margin), every prompt weighing the same however
 * many of its pairs there are (InstructGPT). The output stores the reward statistics PPO normalises with.
 */
public final class RewardStage {
    private static final Logger log = LoggerFactory.getLogger(RewardStage.class);
    /** Mean and standard deviation of held-out rewards, next to the weights in {@code final/}. */
    public static final String STATS_FILE = "reward_stats.json";

    private final RewardConfig cfg;
    private final CheckpointStore store;
    private final UriOpener remote;
    private final TrainingMetrics metrics;
    private final StageCache cache;
    private final String parentUri;

    public RewardStage(RewardConfig cfg, String parentCheckpoint, CheckpointStore store, UriOpener remote,
                       TrainingMetrics metrics, StageCache cache) {
        this.cfg = cfg;
        this.store = store;
        this.remote = remote;
        this.metrics = metrics;
        this.cache = cfg.cache() ? cache : null;
        this.parentUri = ParentModel.uri(cfg.initFrom(), parentCheckpoint, Stages.REWARD);
    }

    public StageOutcome run(StageControl control) {
        // Setup (data, tokenizer, parents, checkpoint download) can outlast a short heartbeat timeout on a cold worker.
        try (KeepAlive.Running setup = KeepAlive.start(control, KeepAlive.settingUp(control, cfg.train().maxSteps()))) {
            return run(control, setup);
        }
    }

    private StageOutcome run(StageControl control, KeepAlive.Running setup) {
        long wallStart = System.nanoTime();
        Optional<StageOutcome> done = TrainingLoop.finishedBefore(Stages.REWARD, store, wallStart);
        if (done.isPresent()) {
            return done.get();
        }
        ParentModel parent = ParentModel.load(store, parentUri);
        MemoryCheck.atStart(Stages.REWARD, parent.config(), parent.config().parameterCount() + parent.config().nEmbd(),
                List.of(), 2 * cfg.train().batchSize(), parent.config().blockSize(), 1, cfg.train());
        Optional<LoadedCheckpoint> resume = TrainingLoop.latest(store, metrics);
        resume.ifPresent(parent::requireSameAs);

        List<PreferenceDocuments.Read> sources = new ArrayList<>();
        for (int i = 0; i < cfg.sources().size(); i++) {
            sources.add(PreferenceDocuments.read(cfg.sources().get(i), i, remote));
        }
        String cacheKey = cacheKey(sources, parent);
        Optional<StageOutcome> hit = TrainingLoop.cached(Stages.REWARD, cache, cacheKey, store, resume, wallStart);
        if (hit.isPresent()) {
            return hit.get();
        }
        Tokenizer tokenizer = parent.tokenizer();
        int blockSize = parent.config().blockSize();
        PreferenceEncoder encoder = new PreferenceEncoder(tokenizer, blockSize, cfg.truncation());
        List<EncodedGroup> train = new ArrayList<>();
        List<EncodedGroup> validation = new ArrayList<>();
        List<PreferenceGroup> validationText = new ArrayList<>();
        Map<String, Double> counts = new LinkedHashMap<>();
        counts.put("pairsSkippedIdentical", 0.0);
        counts.put("pairsSkippedTooLong", 0.0);
        counts.put("groupsTruncated", 0.0);
        for (int i = 0; i < sources.size(); i++) {
            PreferenceSplit split = PreferenceSplit.of(sources.get(i).groups(), cfg.valFraction(), cfg.seed());
            String name = "data.sources[" + i + "] (" + cfg.sources().get(i).path() + ")";
            PreferenceEncoder.Encoded t = encoder.encodeAll(split.train(), name);
            PreferenceEncoder.Encoded v = encoder.encodeAll(split.validation(), name + " validation split");
            train.addAll(t.groups());
            validation.addAll(v.groups());
            validationText.addAll(split.validation());
            counts.merge("pairsSkippedIdentical", (double) sources.get(i).skippedIdenticalPairs(), Double::sum);
            counts.merge("pairsSkippedTooLong", (double) t.skippedPairs() + v.skippedPairs(), Double::sum);
            counts.merge("groupsTruncated", (double) t.truncatedGroups() + v.truncatedGroups(), Double::sum);
        }
        if (train.isEmpty() || validation.isEmpty()) {
            throw BadInputException.field("data.sources", "left " + train.size() + " training and " + validation.size()
                    + " validation prompts with comparisons; reward modeling needs both");
        }
        int pad = tokenizer.id(SpecialToken.PAD);
        PreferenceBatchSampler sampler = new PreferenceBatchSampler(train, blockSize, cfg.seed(), pad);
        List<PreferenceBatch> valBatches = new PreferenceBatchSampler(validation, blockSize, cfg.seed(), pad)
                .sequential(cfg.train().batchSize());
        if (valBatches.size() > cfg.eval().batches()) {
            valBatches = valBatches.subList(0, cfg.eval().batches());
        }

        try (NDManager manager = NDManager.newBaseManager();
             Gpt model = Gpt.create(manager, parent.config(), cfg.seed())) {
            parent.loadInto(model);
            model.addScoreHead(cfg.seed());
            if (cfg.freezeBlocks() > 0) {
                try {
                    model.freezeBlocks(cfg.freezeBlocks());
                } catch (BadInputException e) {
                    throw BadInputException.field("freeze_blocks", e.getMessage());
                }
            }
            try (AdamW optimizer = new AdamW(manager, model.trainableParameters(), cfg.optimizer())) {
                Task task = new Task(model, manager, tokenizer, sampler, valBatches, validationText);
                TrainState state;
                if (resume.isPresent()) {
                    state = TrainingLoop.resume(resume.get(), cfg.resolved(), metrics, model, optimizer);
                } else {
                    double valStart = task.validationLoss();
                    Map<String, Double> before = new LinkedHashMap<>();
                    before.put("valPairAccuracyBefore", task.last.accuracy());
                    before.put("pairsTrain", (double) train.stream().mapToInt(g -> g.pairs().size()).sum());
                    before.put("pairsValidation", (double) task.last.pairs());
                    before.putAll(counts);
                    state = TrainState.start(Stages.REWARD, cfg.seed(), valStart, parent.uri(), cfg.resolved(), before);
                    log.info("starting {} from {}: {} prompts with {} pairs for training, held-out pair accuracy {}",
                            Stages.REWARD, parent.uri(), train.size(), before.get("pairsTrain").longValue(),
                            TrainingLoop.fmt(task.last.accuracy()));
                }
                var settings = new TrainingLoop.Settings(Stages.REWARD, cfg.seed(), cfg.train().maxSteps(),
                        cfg.eval().interval(), cfg.checkpoint(), cfg.train().precision(),
                        cfg.train().exportDtype());
                var io = new TrainingLoop.Io(store, metrics, control, cache, cacheKey);
                setup.close();
                return new TrainingLoop(settings, task, model, optimizer, tokenizer, io, state,
                        resume.map(c -> c.uri().toString()).orElse(null), wallStart).run();
            }
        }
    }

    /** Held-out figures of one validation pass. */
    record Evaluation(double loss, double accuracy, double marginMean, double rewardMean, double rewardStd,
                      int pairs) {}

    /** Pairwise preference loss on (seed, step)-pure batches of prompts. */
    private final class Task implements TrainingLoop.Task {
        final Gpt model;
        final NDManager manager;
        final Tokenizer tokenizer;
        final PreferenceBatchSampler sampler;
        final List<PreferenceBatch> valBatches;
        final List<PreferenceGroup> validationText;
        final DemoWorld world = DemoWorld.behind(cfg.sources().stream().map(SourceSpec::path).toList());
        Evaluation last;

        Task(Gpt model, NDManager manager, Tokenizer tokenizer, PreferenceBatchSampler sampler,
             List<PreferenceBatch> valBatches, List<PreferenceGroup> validationText) {
            this.model = model;
            this.manager = manager;
            this.tokenizer = tokenizer;
            this.sampler = sampler;
            this.valBatches = valBatches;
            this.validationText = validationText;
        }

        @Override
        public TrainingLoop.StepLoss accumulateGradients(long step) {
            int accum = cfg.train().gradAccumSteps();
            List<PreferenceBatch> micro = new ArrayList<>(accum);
            int groups = 0;
            for (int m = 0; m < accum; m++) {
                PreferenceBatch b = sampler.train(step, m, accum, cfg.train().batchSize());
                micro.add(b);
                groups += b.groups();
            }
            double lossSum = 0;
            long tokens = 0;
            for (PreferenceBatch full : micro) {
                PreferenceBatch b = full.narrowed(full.usedWidth());
                try (NDScope scope = new NDScope();
                     GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    // Summed over this micro-batch's prompts, divided by the step's: the step's mean over prompts.
                    NDArray loss = EngineArrays.scale(pairLossSum(rewards(b, true), b), 1.0 / groups);
                    gc.backward(model.scaleForBackward(loss));
                    lossSum += loss.getFloat();
                }
                for (int last : b.lastIndex()) {
                    tokens += last + 1;
                }
            }
            return new TrainingLoop.StepLoss(lossSum, tokens);
        }

        /** (rows,) the score head at each row's last non-pad token, where an exported seq-cls model reads it. */
        NDArray rewards(PreferenceBatch b, boolean training) {
            NDArray x = manager.create(b.sequences(), new Shape(b.rows(), b.blockSize()));
            NDArray scores = model.scores(x, training);                                      // (N, T)
            int[] at = b.scoreIndex(tokenizer.id(SpecialToken.PAD));
            return scores.gather(indices(at, new Shape(b.rows(), 1)), 1).squeeze(1);         // (N,)
        }

        NDArray pairLossSum(NDArray rewards, PreferenceBatch b) {
            return RewardLoss.pairLossSum(manager, rewards, b);
        }

        private NDArray indices(int[] values, Shape shape) {
            return RewardLoss.indices(manager, values, shape);
        }

        @Override
        public double validationLoss() {
            double lossSum = 0;
            int groups = 0;
            int correct = 0;
            int pairs = 0;
            double marginSum = 0;
            List<Float> all = new ArrayList<>();
            for (PreferenceBatch full : valBatches) {
                PreferenceBatch b = full.narrowed(full.usedWidth());
                try (NDScope scope = new NDScope()) {
                    NDArray r = rewards(b, false);
                    lossSum += pairLossSum(r, b).getFloat();
                    float[] rewards = r.toFloatArray();
                    for (int i = 0; i < b.pairs(); i++) {
                        double d = rewards[b.chosenRow()[i]] - rewards[b.rejectedRow()[i]];
                        correct += d > 0 ? 1 : 0;
                        marginSum += d;
                    }
                    for (float v : rewards) {
                        all.add(v);
                    }
                }
                groups += b.groups();
                pairs += b.pairs();
            }
            double mean = all.stream().mapToDouble(Float::doubleValue).average().orElse(0);
            double var = all.stream().mapToDouble(v -> (v - mean) * (v - mean)).sum() / Math.max(1, all.size() - 1);
            last = new Evaluation(lossSum / groups, (double) correct / pairs, marginSum / pairs, mean, Math.sqrt(var),
                    pairs);
            return last.loss();
        }

        @Override
        public double validationAccuracy() {
            return last.accuracy();
        }

        @Override
        public Map<String, Double> finalMetrics() {
            validationLoss();
            Map<String, Double> after = new LinkedHashMap<>();
            after.put("valPairAccuracy", last.accuracy());
            after.put("valMarginMean", last.marginMean());
            after.put("rewardMean", last.rewardMean());
            after.put("rewardStd", last.rewardStd());
            if (world != null) {
                after.putAll(accuracyByPairType());
            }
            log.info("{} held-out: pair accuracy {}, mean margin {}, reward {} ± {}", Stages.REWARD,
                    TrainingLoop.fmt(last.accuracy()), TrainingLoop.fmt(last.marginMean()),
                    TrainingLoop.fmt(last.rewardMean()), TrainingLoop.fmt(last.rewardStd()));
            return after;
        }

        /** What PPO normalises rewards with, measured on held-out responses. */
        @Override
        public List<CheckpointFile> outputFiles() {
            Map<String, Object> stats = new LinkedHashMap<>();
            stats.put("mean", last.rewardMean());
            stats.put("std", last.rewardStd());
            stats.put("measured_on", "held-out responses (" + last.pairs() + " pairs)");
            return List.of(new CheckpointFile(STATS_FILE, TrainingLoop.json(stats)));
        }

        /** A few held-out comparisons (those whose every response fits) with the scores the model gives them. */
        @Override
        public List<String> samples() {
            List<String> out = new ArrayList<>();
            for (int g = 0; g < validationText.size() && out.size() < cfg.sampleCount(); g++) {
                PreferenceGroup text = validationText.get(g);
                float[] r = score(text);
                if (r == null) {
                    continue;
                }
                StringBuilder sb = new StringBuilder("Q: " + lastUserTurn(text));
                for (int i = 0; i < r.length; i++) {
                    sb.append(String.format(Locale.ROOT, "%n%+.2f  %s", r[i], text.responses().get(i)));
                }
                out.add(sb.toString());
            }
            return out;
        }

        /**
         * Demo data only: held-out pair accuracy split by what the world's hidden rule decides a pair on — one
         * answer right and the other wrong, or (both equally right) tone and length.
         */
        private Map<String, Double> accuracyByPairType() {
            int[] pairs = new int[2];
            int[] right = new int[2];
            for (PreferenceGroup g : validationText) {
                float[] r = score(g);
                if (r == null) {
                    continue;
                }
                String prompt = lastUserTurn(g);
                for (PreferenceGroup.Pair p : g.pairs()) {
                    boolean chosenRight = world.correct(prompt, g.responses().get(p.chosen()));
                    boolean rejectedRight = world.correct(prompt, g.responses().get(p.rejected()));
                    int type = chosenRight != rejectedRight ? 0 : 1;
                    pairs[type]++;
                    right[type] += r[p.chosen()] > r[p.rejected()] ? 1 : 0;
                }
            }
            Map<String, Double> out = new LinkedHashMap<>();
            if (pairs[0] > 0) {
                out.put("valPairAccuracyWhereCorrectnessDecides", (double) right[0] / pairs[0]);
            }
            if (pairs[1] > 0) {
                out.put("valPairAccuracyWhereStyleDecides", (double) right[1] / pairs[1]);
            }
            return out;
        }

        private float[] score(PreferenceGroup text) {
            var encoded = new PreferenceEncoder(tokenizer, model.config().blockSize(), cfg.truncation())
                    .encodeAll(List.of(text), "sample");
            if (encoded.groups().isEmpty() || encoded.groups().get(0).sequences().size() != text.responses().size()) {
                return null;
            }
            PreferenceBatch b = new PreferenceBatchSampler(encoded.groups(), model.config().blockSize(), cfg.seed(),
                    tokenizer.id(SpecialToken.PAD)).sequential(1).get(0);
            try (NDScope scope = new NDScope()) {
                return rewards(b.narrowed(b.usedWidth()), false).toFloatArray();
            }
        }
    }

    private static String lastUserTurn(PreferenceGroup g) {
        for (int i = g.prompt().size() - 1; i >= 0; i--) {
            if (g.prompt().get(i).role().equals(Turn.USER)) {
                return g.prompt().get(i).content();
            }
        }
        return "";
    }

    /** This stage's resolved config (minus whether to cache), its comparisons' content and its parent's files. */
    private String cacheKey(List<PreferenceDocuments.Read> sources, ParentModel parent) {
        ObjectNode keyConfig = cfg.resolved().deepCopy();
        keyConfig.remove("cache");
        List<List<String>> inputs = new ArrayList<>();
        inputs.add(parent.digest());
        for (PreferenceDocuments.Read source : sources) {
            List<String> docs = new ArrayList<>();
            for (PreferenceGroup g : source.groups()) {
                docs.add(g.toString());
            }
            inputs.add(docs);
        }
        return StageCache.key(Stages.REWARD, keyConfig, inputs);
    }
}
