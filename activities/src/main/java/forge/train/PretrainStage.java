package forge.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.AsyncCheckpointWriter;
import forge.checkpoint.CheckpointFile;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.data.Batch;
import forge.data.BatchSampler;
import forge.data.Documents;
import forge.data.TokenizedCorpus;
import forge.data.UriOpener;
import forge.errors.BadInputException;
import forge.model.GenerationOptions;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.optim.AdamW;
import forge.storage.S3Uri;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.workflow.Stages;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The pretraining stage: next-token prediction on a mixed corpus. Resumes from the newest valid checkpoint of its
 * run, checkpoints in the background, and ends with the stage's {@code final/} output.
 */
public final class PretrainStage {
    private static final Logger log = LoggerFactory.getLogger(PretrainStage.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int HISTORY_EVERY = 10;

    private final PretrainConfig cfg;
    private final CheckpointStore store;
    private final UriOpener remote;
    private final TrainingMetrics metrics;
    private final StageCache cache;

    /** @param cache where finished stages are found and recorded; null turns reuse off */
    public PretrainStage(PretrainConfig cfg, CheckpointStore store, UriOpener remote, TrainingMetrics metrics,
                         StageCache cache) {
        this.cfg = cfg;
        this.store = store;
        this.remote = remote;
        this.metrics = metrics;
        this.cache = cfg.cache() ? cache : null;
    }

    public StageOutcome run(StageControl control) {
        long wallStart = System.nanoTime();
        Optional<LoadedCheckpoint> done = store.loadFinal();
        if (done.isPresent()) {
            // An earlier attempt finished but died before Temporal heard of it: report, don't retrain.
            return finishedEarlier(done.get(), wallStart, false);
        }
        Optional<LoadedCheckpoint> resume = store.latest();
        List<List<String>> docs = new ArrayList<>();
        for (int i = 0; i < cfg.sources().size(); i++) {
            docs.add(Documents.read(cfg.sources().get(i), i, remote));
        }
        String cacheKey = cacheKey(docs);
        if (cache != null && resume.isEmpty()) {
            Optional<LoadedCheckpoint> hit = cache.lookup(Stages.PRETRAIN, cacheKey, store);
            if (hit.isPresent()) {
                return finishedEarlier(hit.get(), wallStart, true);
            }
        }
        Tokenizer tokenizer = resume
                .map(c -> Tokenizer.fromHuggingFaceJson(new String(c.file("tokenizer.json"), StandardCharsets.UTF_8)))
                .orElseGet(() -> Tokenizer.train(cfg.tokenizer(), docs.stream().flatMap(List::stream).toList()));
        TokenizedCorpus corpus = new TokenizedCorpus(docs, cfg.sources(), tokenizer, cfg.valFraction());
        GptConfig gptConfig = new GptConfig(tokenizer.vocabSize(), cfg.model().blockSize(), cfg.model().nLayer(),
                cfg.model().nHead(), cfg.model().nEmbd(), cfg.model().dropout(), cfg.model().bias());
        BatchSampler sampler = new BatchSampler(corpus, gptConfig.blockSize(), cfg.seed());
        List<Batch> valBatches = sampler.validation(cfg.eval().batches(), cfg.train().batchSize());

        try (NDManager manager = NDManager.newBaseManager();
             Gpt model = Gpt.create(manager, gptConfig, cfg.seed());
             AdamW optimizer = new AdamW(manager, model.parameters(), cfg.optimizer())) {
            TrainState state;
            if (resume.isPresent()) {
                LoadedCheckpoint c = resume.get();
                model.load(Safetensors.read(c.file("model.safetensors")));
                optimizer.loadState(Safetensors.read(c.file("optimizer.safetensors")));
                TrainState saved = TrainState.fromJson(c.file("state.json"), c.uri().toString());
                // Compared as JSON text: a tree read back from state.json types small integers differently.
                if (!saved.config().toString().equals(cfg.resolved().toString())) {
                    throw new BadInputException(c.uri() + " was written by a different config of this stage; "
                            + "a run id names one spec — start the changed spec under a new run id");
                }
                state = new TrainState(saved.formatVersion(), saved.stage(), saved.step(), saved.tokensSeen(),
                        saved.seed(), saved.trainSeconds(), saved.resumes() + 1, saved.valLossStart(), saved.valLoss(),
                        new ArrayList<>(saved.lossHistory()), new ArrayList<>(saved.valHistory()),
                        saved.parentCheckpoint(), cfg.resolved());
                metrics.resumed();
                log.info("resuming {} from {} at step {}", Stages.PRETRAIN, c.uri(), state.step());
            } else {
                double valStart = evaluate(model, manager, valBatches);
                List<double[]> vh = new ArrayList<>();
                vh.add(new double[] {0, valStart});
                state = new TrainState(TrainState.FORMAT_VERSION, Stages.PRETRAIN, 0, 0, cfg.seed(), 0, 0,
                        valStart, valStart, new ArrayList<>(), vh, null, cfg.resolved());
                log.info("starting {}: {} parameters, vocab {}, val loss {}", Stages.PRETRAIN,
                        gptConfig.parameterCount(), tokenizer.vocabSize(), valStart);
            }
            Loop loop = new Loop(model, optimizer, manager, tokenizer, sampler, valBatches,
                    corpus.unigramEntropyNats(), state, control, wallStart, cacheKey);
            loop.lastCheckpoint = resume.map(c -> c.uri().toString()).orElse(null);
            return loop.run();
        }
    }

    /** The mutable part of one run, so the loop reads top to bottom. */
    private final class Loop {
        final Gpt model;
        final AdamW optimizer;
        final NDManager manager;
        final Tokenizer tokenizer;
        final BatchSampler sampler;
        final List<Batch> valBatches;
        final StageControl control;
        final long wallStart;
        final double unigramBaseline;
        final String cacheKey;
        TrainState state;
        String lastCheckpoint;
        double lastLoss = Double.NaN;
        long maxStallNanos;

        Loop(Gpt model, AdamW optimizer, NDManager manager, Tokenizer tokenizer, BatchSampler sampler,
             List<Batch> valBatches, double unigramBaseline, TrainState state, StageControl control, long wallStart,
             String cacheKey) {
            this.unigramBaseline = unigramBaseline;
            this.cacheKey = cacheKey;
            this.model = model;
            this.optimizer = optimizer;
            this.manager = manager;
            this.tokenizer = tokenizer;
            this.sampler = sampler;
            this.valBatches = valBatches;
            this.state = state;
            this.control = control;
            this.wallStart = wallStart;
        }

        StageOutcome run() {
            long maxSteps = cfg.train().maxSteps();
            long tokensPerStep = cfg.tokensPerStep();
            long attemptStartStep = state.step();
            long attemptStart = System.nanoTime();
            long lastCheckpointAt = System.nanoTime();
            double trainSecondsBefore = state.trainSeconds();
            try (AsyncCheckpointWriter writer = new AsyncCheckpointWriter(store, c -> {
                lastCheckpoint = c.uri().toString();
                metrics.checkpointCommitted(c.bytes(), c.seconds());
                control.milestone(progress(c.step(), throughput(attemptStart, c.step() - attemptStartStep)));
            })) {
                for (long step = state.step(); step < maxSteps; step++) {
                    if (control.stopRequested()) {
                        writer.awaitIdle();
                        String uri = commitNow(step);
                        log.info("{} stopped on request at step {}; checkpoint {}", Stages.PRETRAIN, step, uri);
                        return outcome(false, step, uri, List.of());
                    }
                    AdamW.StepStats stats = trainStep(step);
                    double loss = lastLoss;
                    long done = step + 1;
                    List<double[]> lh = state.lossHistory();
                    if (done % HISTORY_EVERY == 0 || done == maxSteps) {
                        lh.add(new double[] {done, loss});
                    }
                    Double valLoss = state.valLoss();
                    List<double[]> vh = state.valHistory();
                    boolean evaluated = done % cfg.eval().interval() == 0 || done == maxSteps;
                    if (evaluated) {
                        valLoss = evaluate(model, manager, valBatches);
                        metrics.validation(valLoss);
                        vh.add(new double[] {done, valLoss});
                        log.info("step {}/{}: train loss {}, val loss {}", done, maxSteps, fmt(loss), fmt(valLoss));
                    }
                    state = new TrainState(state.formatVersion(), state.stage(), done, state.tokensSeen() + tokensPerStep,
                            state.seed(), trainSecondsBefore + seconds(attemptStart), state.resumes(),
                            state.valLossStart(), valLoss, lh, vh, state.parentCheckpoint(), state.config());
                    double tps = throughput(attemptStart, done - attemptStartStep);
                    metrics.step(done, loss, stats.lr(), stats.gradNorm(), tokensPerStep, tps);
                    control.progress(progress(done, tps));
                    if (evaluated) {
                        control.milestone(progress(done, tps));
                    }
                    boolean due = done % cfg.checkpoint().intervalSteps() == 0
                            || seconds(lastCheckpointAt) >= cfg.checkpoint().intervalSeconds();
                    if (due && done < maxSteps) {
                        submit(writer, done);
                        lastCheckpointAt = System.nanoTime();
                    }
                }
                writer.awaitIdle();
            }
            List<String> samples = samples();
            String finalUri = commitFinal(samples);
            if (cache != null) {
                cache.record(Stages.PRETRAIN, cacheKey, S3Uri.parse(finalUri));
            }
            return outcome(true, maxSteps, finalUri, samples);
        }

        /** One optimizer step: gradient accumulation over micro-batches, then AdamW. */
        AdamW.StepStats trainStep(long step) {
            // Dropout draws from torch's RNG: seeding it from (seed, step) makes a resumed step equal the original.
            Engine.getInstance().setRandomSeed(stepSeed(cfg.seed(), step));
            int accum = cfg.train().gradAccumSteps();
            double lossSum = 0;
            for (int micro = 0; micro < accum; micro++) {
                Batch batch = sampler.train(step, micro, cfg.train().batchSize());
                try (NDScope scope = new NDScope();
                     GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    // The model copies ids into libtorch-owned memory before autograd can hold on to them.
                    NDArray x = manager.create(batch.inputs(), new Shape(batch.batchSize(), batch.blockSize()));
                    NDArray y = manager.create(batch.targets(), new Shape(batch.batchSize(), batch.blockSize()));
                    NDArray logits = model.forward(x, true); // (B, T, V)
                    NDArray loss = Gpt.crossEntropy(logits, y, null);
                    gc.backward(EngineArrays.scale(loss, 1.0 / accum));
                    lossSum += loss.getFloat();
                }
            }
            double loss = lossSum / accum;
            if (!Double.isFinite(loss)) {
                // Resume is exact, so a retry would diverge at the same step: the user must change the config.
                throw new BadInputException("training loss became " + loss + " at step " + step
                        + " (lower train.learning_rate or set train.grad_clip); the last good checkpoint is "
                        + lastCheckpoint);
            }
            lastLoss = loss;
            return optimizer.step(step);
        }

        /** The training thread only copies tensors to host; serializing and uploading happen in the background. */
        void submit(AsyncCheckpointWriter writer, long done) {
            long t0 = System.nanoTime();
            Map<String, HostTensor> weights = model.snapshot();
            Map<String, HostTensor> moments = optimizer.snapshotState();
            TrainState snapshot = state.detached();
            writer.submit(CheckpointStore.stepDir(done), done, () -> stepFiles(weights, moments, snapshot));
            long stall = System.nanoTime() - t0;
            maxStallNanos = Math.max(maxStallNanos, stall);
            metrics.checkpointStall(stall);
        }

        String commitNow(long step) {
            TrainState s = state;
            List<CheckpointFile> files = stepFiles(model.snapshot(), optimizer.snapshotState(), s);
            String uri = store.commit(CheckpointStore.stepDir(step), files).toString();
            lastCheckpoint = uri;
            control.milestone(progress(step, 0));
            return uri;
        }

        List<CheckpointFile> stepFiles(Map<String, HostTensor> weights, Map<String, HostTensor> moments, TrainState s) {
            List<CheckpointFile> files = new ArrayList<>();
            files.add(new CheckpointFile("model.safetensors", Safetensors.write(weights, Map.of("format", "pt"))));
            files.add(new CheckpointFile("optimizer.safetensors", Safetensors.write(moments, Map.of())));
            files.add(new CheckpointFile("tokenizer.json", tokenizer.toHuggingFaceJson().getBytes(StandardCharsets.UTF_8)));
            files.add(new CheckpointFile("state.json", s.toJson()));
            return files;
        }

        /** The stage's output: a step checkpoint's files plus an HF-style config.json and the samples. */
        String commitFinal(List<String> samples) {
            List<CheckpointFile> files = stepFiles(model.snapshot(), optimizer.snapshotState(), state);
            files.add(new CheckpointFile("config.json", json(model.config().toHuggingFaceConfig())));
            files.add(new CheckpointFile("samples.json", json(samples)));
            String uri = store.commit(CheckpointStore.FINAL, files).toString();
            lastCheckpoint = uri;
            return uri;
        }

        List<String> samples() {
            List<String> out = new ArrayList<>();
            var s = cfg.sample();
            for (int i = 0; i < s.count(); i++) {
                int[] prompt = s.prompt().isEmpty()
                        ? new int[] {tokenizer.id(SpecialToken.END_OF_TEXT)}
                        : tokenizer.encode(s.prompt());
                int[] generated = model.generate(prompt, new GenerationOptions(s.maxNewTokens(), s.temperature(),
                        s.topK(), 1.0, tokenizer.id(SpecialToken.END_OF_TEXT), true), stepSeed(cfg.seed(), -1 - i));
                out.add(tokenizer.decode(generated, true)); // generate returns the prompt and its continuation
            }
            return out;
        }

        TrainingProgress progress(long step, double tps) {
            Map<String, Double> m = new LinkedHashMap<>();
            if (state.valLoss() != null) {
                m.put("valLoss", state.valLoss());
            }
            m.put("tokensPerSecond", tps);
            return new TrainingProgress(step, cfg.train().maxSteps(), lastLoss, tps, lastCheckpoint, m);
        }

        double throughput(long attemptStart, long stepsThisAttempt) {
            double s = seconds(attemptStart);
            return s > 0 ? stepsThisAttempt * cfg.tokensPerStep() / s : 0;
        }

        StageOutcome outcome(boolean completed, long step, String checkpoint, List<String> samples) {
            Map<String, Double> summary = summaryMetrics(state, lastLoss, unigramBaseline);
            // The training thread's longest wait on a background checkpoint: host copy, plus any upload still running.
            summary.put("checkpointStallMsMax", maxStallNanos / 1e6);
            summary.put("cached", 0.0);
            double tps = state.trainSeconds() > 0 ? state.tokensSeen() / state.trainSeconds() : 0;
            return new StageOutcome(completed, step, checkpoint, seconds(wallStart), tps, summary, samples);
        }
    }

    /** The cache key: this stage's resolved config (whether to cache is no part of it) and its data's content. */
    private String cacheKey(List<List<String>> docs) {
        ObjectNode keyConfig = cfg.resolved().deepCopy();
        keyConfig.remove("cache");
        return StageCache.key(Stages.PRETRAIN, keyConfig, docs);
    }

    private StageOutcome finishedEarlier(LoadedCheckpoint fin, long wallStart, boolean fromCache) {
        TrainState s = TrainState.fromJson(fin.file("state.json"), fin.uri().toString());
        List<String> samples;
        try {
            samples = List.of(JSON.readValue(fin.file("samples.json"), String[].class));
        } catch (java.io.IOException e) {
            samples = List.of();
        }
        log.info("{} already finished at {}{}; nothing to train", Stages.PRETRAIN, fin.uri(),
                fromCache ? " (an earlier run with the same config and data)" : "");
        Map<String, Double> summary = summaryMetrics(s, Double.NaN, Double.NaN);
        summary.put("cached", fromCache ? 1.0 : 0.0);
        return new StageOutcome(true, s.step(), fin.uri().toString(), seconds(wallStart),
                s.trainSeconds() > 0 ? s.tokensSeen() / s.trainSeconds() : 0, summary, samples);
    }

    static Map<String, Double> summaryMetrics(TrainState state, double lastLoss, double unigramBaseline) {
        Map<String, Double> metrics = new LinkedHashMap<>();
        if (state.valLossStart() != null) metrics.put("valLossStart", state.valLossStart());
        if (state.valLoss() != null) metrics.put("valLossEnd", state.valLoss());
        if (!Double.isNaN(lastLoss)) metrics.put("trainLossEnd", lastLoss);
        if (!Double.isNaN(unigramBaseline)) metrics.put("unigramBaseline", unigramBaseline);
        metrics.put("resumes", (double) state.resumes());
        metrics.put("tokensSeen", (double) state.tokensSeen());
        metrics.put("trainSeconds", state.trainSeconds());
        return metrics;
    }

    /** Mean validation loss over the fixed validation batches, without recording gradients. */
    static double evaluate(Gpt model, NDManager manager, List<Batch> batches) {
        double sum = 0;
        for (Batch b : batches) {
            try (NDScope scope = new NDScope()) {
                NDArray x = manager.create(b.inputs(), new Shape(b.batchSize(), b.blockSize()));
                NDArray y = manager.create(b.targets(), new Shape(b.batchSize(), b.blockSize()));
                sum += Gpt.crossEntropy(model.forward(x, false), y, null).getFloat();
            }
        }
        return sum / batches.size();
    }

    /** Torch takes an int seed; mix (seed, step) so that neighbouring steps get unrelated streams. */
    static int stepSeed(long seed, long step) {
        long z = seed * 0x9E3779B97F4A7C15L + step;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return (int) (z ^ (z >>> 31));
    }

    private static double seconds(long sinceNanos) {
        return (System.nanoTime() - sinceNanos) / 1e9;
    }

    private static String fmt(double v) {
        return String.format(java.util.Locale.ROOT, "%.4f", v);
    }

    private static byte[] json(Object o) {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
