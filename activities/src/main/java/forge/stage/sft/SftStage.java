package forge.stage.sft;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.chat.ChatEncoder;
import forge.chat.Conversation;
import forge.chat.EncodedExample;
import forge.chat.Turn;
import forge.checkpoint.CheckpointFile;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.data.SourceSpec;
import forge.data.UriOpener;
import forge.demo.DemoWorld;
import forge.errors.BadInputException;
import forge.model.GenerationOptions;
import forge.model.Gpt;
import forge.optim.AdamW;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.train.KeepAlive;
import forge.train.MemoryCheck;
import forge.train.ParentModel;
import forge.train.SampleSpec;
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
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Supervised fine-tuning: the parent model learns to answer, with the language-model loss counted on assistant
 * tokens only. Full fine-tuning, full with the bottom blocks frozen, or LoRA adapters merged into the output.
 * Durable through {@link TrainingLoop}, like pretraining.
 */
public final class SftStage {
    private static final Logger log = LoggerFactory.getLogger(SftStage.class);

    private final SftConfig cfg;
    private final CheckpointStore store;
    private final UriOpener remote;
    private final TrainingMetrics metrics;
    private final StageCache cache;
    private final String parentUri;

    /**
     * @param parentCheckpoint the previous stage's output; the config's init_from wins over it
     * @param cache            where finished stages are found and recorded; null turns reuse off
     */
    public SftStage(SftConfig cfg, String parentCheckpoint, CheckpointStore store, UriOpener remote,
                    TrainingMetrics metrics, StageCache cache) {
        this.cfg = cfg;
        this.store = store;
        this.remote = remote;
        this.metrics = metrics;
        this.cache = cfg.cache() ? cache : null;
        this.parentUri = ParentModel.uri(cfg.initFrom(), parentCheckpoint, Stages.SFT);
    }

    public StageOutcome run(StageControl control) {
        // Setup (data, tokenizer, parents, checkpoint download) can outlast a short heartbeat timeout on a cold worker.
        try (KeepAlive.Running setup = KeepAlive.start(control, KeepAlive.settingUp(control, cfg.train().maxSteps()))) {
            return run(control, setup);
        }
    }

    private StageOutcome run(StageControl control, KeepAlive.Running setup) {
        long wallStart = System.nanoTime();
        Optional<StageOutcome> done = TrainingLoop.finishedBefore(Stages.SFT, store, wallStart);
        if (done.isPresent()) {
            return done.get();
        }
        ParentModel parent = ParentModel.load(store, parentUri);
        MemoryCheck.atStart(Stages.SFT, parent.config(), cfg.method() == SftConfig.Method.LORA
                        ? cfg.lora().parameterCount(parent.config()) : parent.config().parameterCount(), List.of(),
                cfg.train().batchSize(), parent.config().blockSize(), 1, cfg.train());
        Optional<LoadedCheckpoint> resume = TrainingLoop.latest(store, metrics);
        resume.ifPresent(parent::requireSameAs);

        List<List<Conversation>> sources = new ArrayList<>();
        for (int i = 0; i < cfg.sources().size(); i++) {
            sources.add(SftDocuments.read(cfg.sources().get(i), i, remote));
        }
        String cacheKey = cacheKey(sources, parent);
        Optional<StageOutcome> hit = TrainingLoop.cached(Stages.SFT, cache, cacheKey, store, resume, wallStart);
        if (hit.isPresent()) {
            return hit.get();
        }
        Tokenizer tokenizer = parent.tokenizer();
        int blockSize = parent.config().blockSize();
        ChatEncoder encoder = new ChatEncoder(tokenizer, blockSize, cfg.truncation());
        List<EncodedExample> train = new ArrayList<>();
        List<EncodedExample> validation = new ArrayList<>();
        int truncated = 0;
        int skipped = 0;
        int total = 0;
        for (int i = 0; i < sources.size(); i++) {
            TrainValSplit split = TrainValSplit.of(sources.get(i), cfg.valFraction(), cfg.seed());
            String name = "data.sources[" + i + "] (" + cfg.sources().get(i).path() + ")";
            ChatEncoder.Encoded t = encoder.encodeAll(split.train(), name);
            ChatEncoder.Encoded v = encoder.encodeAll(split.validation(), name + " validation split");
            train.addAll(t.examples());
            validation.addAll(v.examples());
            truncated += t.truncated() + v.truncated();
            skipped += t.skipped() + v.skipped();
            total += sources.get(i).size();
        }
        if (train.isEmpty() || validation.isEmpty()) {
            throw BadInputException.field("data.sources", "left " + train.size() + " training and " + validation.size()
                    + " validation examples after the truncation policy; SFT needs both");
        }
        int unknown = tokenizer.type().equals("char") ? withUnknownTokens(train) + withUnknownTokens(validation) : 0;
        if (unknown > 0) {
            // A character-level parent maps characters it never saw in pretraining to <|unk|>: its answers will
            // lack them. A byte-level BPE tokenizer has no unknown characters.
            log.warn("{} of {} SFT examples contain text the parent's tokenizer does not know (<|unk|>)", unknown,
                    train.size() + validation.size());
        }
        SftBatchSampler sampler = new SftBatchSampler(train, blockSize, cfg.seed(), cfg.pack());
        List<SftBatch> valBatches = new SftBatchSampler(validation, blockSize, cfg.seed(), false)
                .sequential(cfg.train().batchSize());
        if (valBatches.size() > cfg.eval().batches()) {
            valBatches = valBatches.subList(0, cfg.eval().batches());
        }
        DemoWorld world = DemoWorld.behind(cfg.sources().stream().map(SourceSpec::path).toList());
        List<String> taskPrompts = world == null || cfg.taskEvalCount() == 0 ? List.of()
                : TaskAccuracy.heldOutPrompts(world, cfg.taskEvalCount());

        try (NDManager manager = NDManager.newBaseManager();
             Gpt model = Gpt.create(manager, parent.config(), cfg.seed())) {
            parent.loadInto(model);
            if (cfg.method() == SftConfig.Method.LORA) {
                model.addLora(cfg.lora(), cfg.seed());
                model.freezeBase();
            } else if (cfg.freezeBlocks() > 0) {
                try {
                    model.freezeBlocks(cfg.freezeBlocks());
                } catch (BadInputException e) {
                    throw BadInputException.field("freeze_blocks", e.getMessage());
                }
            }
            try (AdamW optimizer = new AdamW(manager, model.trainableParameters(), cfg.optimizer())) {
                Task task = new Task(model, manager, tokenizer, sampler, valBatches, world, taskPrompts,
                        validation);
                TrainState state;
                if (resume.isPresent()) {
                    state = TrainingLoop.resume(resume.get(), cfg.resolved(), metrics, model, optimizer);
                } else {
                    Map<String, Double> before = new LinkedHashMap<>();
                    double valStart = task.validationLoss();
                    before.put("valTokenAccuracyBefore", task.lastTokenAccuracy);
                    if (!taskPrompts.isEmpty()) {
                        before.put("taskAccuracyBefore", KeepAlive.during(control,
                                KeepAlive.starting(cfg.train().maxSteps()), task::taskAccuracy));
                    }
                    before.put("examplesTrain", (double) train.size());
                    before.put("examplesTruncated", (double) truncated);
                    before.put("examplesSkipped", (double) skipped);
                    before.put("examplesWithUnknownTokens", (double) unknown);
                    before.put("trainableParameters", (double) count(model.trainableParameters()));
                    state = TrainState.start(Stages.SFT, cfg.seed(), valStart, parent.uri(), cfg.resolved(), before);
                    log.info("starting {} ({}{}) from {}: {} of {} examples for training, {} trainable parameters, "
                                    + "val loss {}, task accuracy {}", Stages.SFT,
                            cfg.method().name().toLowerCase(), cfg.pack() ? ", packed" : "", parent.uri(), train.size(),
                            total, before.get("trainableParameters").longValue(), TrainingLoop.fmt(valStart),
                            before.getOrDefault("taskAccuracyBefore", Double.NaN));
                }
                var settings = new TrainingLoop.Settings(Stages.SFT, cfg.seed(), cfg.train().maxSteps(),
                        cfg.eval().interval(), cfg.checkpoint(), cfg.train().precision(),
                        cfg.train().exportDtype());
                var io = new TrainingLoop.Io(store, metrics, control, cache, cacheKey);
                setup.close();
                return new TrainingLoop(settings, task, model, optimizer, tokenizer, io, state,
                        resume.map(c -> c.uri().toString()).orElse(null), wallStart).run();
            }
        }
    }

    /** Assistant-token language modelling on (seed, step)-pure batches of the encoded examples. */
    private final class Task implements TrainingLoop.Task {
        final Gpt model;
        final NDManager manager;
        final Tokenizer tokenizer;
        final SftBatchSampler sampler;
        final List<SftBatch> valBatches;
        final DemoWorld world;
        final List<String> taskPrompts;
        final List<EncodedExample> validation;
        double lastTokenAccuracy = Double.NaN;

        Task(Gpt model, NDManager manager, Tokenizer tokenizer, SftBatchSampler sampler, List<SftBatch> valBatches,
             DemoWorld world, List<String> taskPrompts, List<EncodedExample> validation) {
            this.model = model;
            this.manager = manager;
            this.tokenizer = tokenizer;
            this.sampler = sampler;
            this.valBatches = valBatches;
            this.world = world;
            this.taskPrompts = taskPrompts;
            this.validation = validation;
        }

        @Override
        public TrainingLoop.StepLoss accumulateGradients(long step) {
            int accum = cfg.train().gradAccumSteps();
            List<SftBatch> micro = new ArrayList<>(accum);
            double weightSum = 0;
            for (int m = 0; m < accum; m++) {
                SftBatch b = sampler.train(step, m, accum, cfg.train().batchSize());
                micro.add(b);
                weightSum += b.weightSum();
            }
            double lossSum = 0;
            long tokens = 0;
            for (SftBatch full : micro) {
                // Each micro-batch's loss is a mean over its own assistant tokens; weighting by their share makes
                // the step's loss and gradient the mean over all of the step's assistant tokens.
                double share = weightSum > 0 ? full.weightSum() / weightSum : 0;
                SftBatch b = cfg.pack() ? full : full.narrowed(full.usedWidth());
                try (NDScope scope = new NDScope();
                     GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    if (cfg.train().activationCheckpointing()) {
                        NDArray y = ids(b.targets(), b);
                        NDArray w = weights(b);
                        float[] loss = new float[1];
                        model.backwardCheckpointed(gc, ids(b.inputs(), b), cfg.pack() ? positions(b) : null,
                                cfg.pack() ? segments(b) : null, logits -> {
                                    NDArray l = Gpt.crossEntropy(logits, y, w);
                                    loss[0] = l.getFloat();
                                    return model.scaleForBackward(EngineArrays.scale(l, share));
                                });
                        lossSum += loss[0] * share;
                    } else {
                        NDArray loss = Gpt.crossEntropy(logits(b, true), ids(b.targets(), b), weights(b));
                        gc.backward(model.scaleForBackward(EngineArrays.scale(loss, share)));
                        lossSum += loss.getFloat() * share;
                    }
                }
                tokens += nonPadding(b);
            }
            return new TrainingLoop.StepLoss(lossSum, tokens);
        }

        /** Mean loss per assistant token over the validation examples; also measures token accuracy. */
        @Override
        public double validationLoss() {
            double lossSum = 0;
            double correct = 0;
            double weightSum = 0;
            for (SftBatch full : valBatches) {
                SftBatch b = full.narrowed(full.usedWidth());
                double w = b.weightSum();
                if (w == 0) {
                    continue;
                }
                try (NDScope scope = new NDScope()) {
                    NDArray logits = logits(b, false);                               // (B, T, V)
                    NDArray targets = ids(b.targets(), b);
                    NDArray weights = weights(b);
                    lossSum += Gpt.crossEntropy(logits, targets, weights).getFloat() * w;
                    NDArray hit = logits.argMax(-1).eq(targets).toType(DataType.FLOAT32, false); // (B, T)
                    correct += hit.mul(weights).sum().getFloat();
                }
                weightSum += w;
            }
            lastTokenAccuracy = weightSum > 0 ? correct / weightSum : Double.NaN;
            return weightSum > 0 ? lossSum / weightSum : Double.NaN;
        }

        @Override
        public double validationAccuracy() {
            return lastTokenAccuracy;
        }

        private NDArray logits(SftBatch b, boolean training) {
            NDArray x = ids(b.inputs(), b);
            if (!cfg.pack()) {
                return model.forward(x, training);                                  // (B, T, V)
            }
            return model.forward(x, positions(b), segments(b), training);            // (B, T, V)
        }

        private NDArray positions(SftBatch b) {
            return manager.create(toLong(b.positions()), new Shape(b.batchSize(), b.blockSize()));
        }

        private NDArray segments(SftBatch b) {
            return manager.create(toLong(b.segmentIds()), new Shape(b.batchSize(), b.blockSize()));
        }

        private NDArray ids(long[] values, SftBatch b) {
            return manager.create(values, new Shape(b.batchSize(), b.blockSize()));
        }

        private NDArray weights(SftBatch b) {
            return manager.create(b.weights(), new Shape(b.batchSize(), b.blockSize()));
        }

        @Override
        public List<String> samples() {
            List<String> prompts = new ArrayList<>();
            SampleSpec s = cfg.sample();
            for (int i = 0; i < s.count(); i++) {
                if (!s.prompt().isEmpty()) {
                    prompts.add(s.prompt());
                } else if (i < taskPrompts.size()) {
                    prompts.add(taskPrompts.get(i));
                } else if (i < validation.size()) {
                    prompts.add(promptText(validation.get(i)));
                }
            }
            List<String> out = new ArrayList<>();
            int block = model.config().blockSize();
            for (int i = 0; i < prompts.size(); i++) {
                // The whole prompt, and only as many new tokens as fit after it: cropping the prompt to make room
                // (as before) printed a question the model never saw, and transformers, given that question,
                // answered differently. Only a prompt longer than the context itself is cropped, and says so.
                int[] full = ChatEncoder.prompt(tokenizer, prompts.get(i), Integer.MAX_VALUE);
                int[] prompt = ChatEncoder.prompt(tokenizer, prompts.get(i), block - 1);
                int maxNew = Math.min(s.maxNewTokens(), block - prompt.length);
                int[] generated = model.generate(prompt, new GenerationOptions(maxNew, s.temperature(),
                        s.topK(), 1.0, ChatEncoder.endOfTurn(tokenizer), true),
                        TrainingLoop.stepSeed(cfg.seed(), -1 - i));
                String cropped = prompt.length < full.length ? " [prompt cropped to its last " + prompt.length
                        + " tokens]" : "";
                out.add("Q: " + prompts.get(i) + cropped + "\nA: " + ChatEncoder.reply(tokenizer, generated,
                        prompt.length));
            }
            return out;
        }

        @Override
        public Map<String, Double> finalMetrics() {
            Map<String, Double> after = new LinkedHashMap<>();
            validationLoss();
            after.put("valTokenAccuracyAfter", lastTokenAccuracy);
            if (!taskPrompts.isEmpty()) {
                after.put("taskAccuracyAfter", taskAccuracy());
            }
            log.info("{} held-out: token accuracy {}, task accuracy {}", Stages.SFT, lastTokenAccuracy,
                    after.getOrDefault("taskAccuracyAfter", Double.NaN));
            return after;
        }

        /** The adapters as PEFT saves them, so they can be used on the parent without the merged weights. */
        @Override
        public List<CheckpointFile> outputFiles() {
            if (model.lora() == null) {
                return List.of();
            }
            Map<String, HostTensor> adapters = new LinkedHashMap<>();
            model.loraParameters().forEach((name, p) -> adapters.put(name, HostTensor.of(p)));
            String base = parentUri.startsWith(ParentModel.HF) ? parentUri.substring(ParentModel.HF.length()) : parentUri;
            return forge.hf.PeftAdapter.files(model.config(), model.lora(), adapters, base);
        }

        /** The output is a plain GPT-2 the next stage can load: LoRA adapters are merged into the weights. */
        @Override
        public Map<String, HostTensor> outputWeights() {
            if (model.lora() != null) {
                model.mergeLora();
            }
            return model.snapshot();
        }

        /** Greedy answers to the held-out questions, batched by prompt length (generateBatch needs equal lengths). */
        double taskAccuracy() {
            int maxNew = cfg.taskEvalMaxNewTokens();
            return TaskAccuracy.measureBatched(world, taskPrompts, prompts -> {
                String[] replies = new String[prompts.size()];
                Map<Integer, List<Integer>> byLength = new TreeMap<>();
                List<int[]> encoded = new ArrayList<>();
                for (int i = 0; i < prompts.size(); i++) {
                    int[] p = ChatEncoder.prompt(tokenizer, prompts.get(i), promptRoom(maxNew));
                    encoded.add(p);
                    byLength.computeIfAbsent(p.length, k -> new ArrayList<>()).add(i);
                }
                var opts = new GenerationOptions(maxNew, 0, 0, 1, ChatEncoder.endOfTurn(tokenizer), true);
                for (List<Integer> group : byLength.values()) {
                    int[][] batch = group.stream().map(encoded::get).toArray(int[][]::new);
                    int[][] out = model.generateBatch(batch, opts, cfg.seed());
                    for (int r = 0; r < group.size(); r++) {
                        replies[group.get(r)] = ChatEncoder.reply(tokenizer, out[r], batch[r].length);
                    }
                }
                return List.of(replies);
            });
        }

        private int promptRoom(int maxNewTokens) {
            return Math.max(1, model.config().blockSize() - maxNewTokens);
        }

        private String promptText(EncodedExample e) {
            int[] t = e.tokens();
            if (tokenizer instanceof forge.tokenizer.PretrainedTokenizer) {
                // A checkpoint's template has no fixed user marker: the text before the first reply, minus markers.
                int firstReply = 0;
                while (firstReply < t.length && e.lossMask()[firstReply] == 0f) {
                    firstReply++;
                }
                return tokenizer.decode(java.util.Arrays.copyOfRange(t, 0, firstReply), true).strip();
            }
            int user = tokenizer.id(SpecialToken.USER);
            int end = tokenizer.id(SpecialToken.END_OF_TURN);
            int from = -1;
            for (int i = 0; i < t.length; i++) {
                if (t[i] == user) {
                    from = i + 1;
                } else if (t[i] == end && from >= 0) {
                    return tokenizer.decode(java.util.Arrays.copyOfRange(t, from, i), true);
                }
            }
            return "";
        }
    }

    /** This stage's resolved config (minus whether to cache), its data's content and its parent's files. */
    private String cacheKey(List<List<Conversation>> sources, ParentModel parent) {
        ObjectNode keyConfig = cfg.resolved().deepCopy();
        keyConfig.remove("cache");
        List<List<String>> inputs = new ArrayList<>();
        inputs.add(parent.digest());
        for (List<Conversation> source : sources) {
            List<String> docs = new ArrayList<>(source.size());
            for (Conversation c : source) {
                StringBuilder sb = new StringBuilder();
                for (Turn t : c.turns()) {
                    sb.append(t.role()).append('\u0001').append(t.content()).append('\u0002');
                }
                docs.add(sb.toString());
            }
            inputs.add(docs);
        }
        return StageCache.key(Stages.SFT, keyConfig, inputs);
    }

    private static int withUnknownTokens(List<EncodedExample> examples) {
        int n = 0;
        for (EncodedExample e : examples) {
            for (int t : e.tokens()) {
                if (t == SpecialToken.UNKNOWN.id()) {
                    n++;
                    break;
                }
            }
        }
        return n;
    }

    private static long nonPadding(SftBatch b) {
        long n = 0;
        for (int s : b.segmentIds()) {
            if (s != 0) {
                n++;
            }
        }
        return n;
    }

    private static long[] toLong(int[] values) {
        long[] out = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    private static long count(Map<String, NDArray> params) {
        return params.values().stream().mapToLong(p -> p.getShape().size()).sum();
    }
}
