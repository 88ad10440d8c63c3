package forge.train;

import ai.djl.engine.Engine;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.checkpoint.AsyncCheckpointWriter;
import forge.checkpoint.CheckpointFile;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.CheckpointTensors;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.hf.ExportDtype;
import forge.model.Precision;
import forge.optim.AdamW;
import forge.optim.LossScaler;
import forge.optim.NonFiniteGradientException;
import forge.storage.S3Uri;
import forge.tensor.HostTensor;
import forge.tokenizer.Tokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The step loop every training stage shares: seeded steps, the optimizer, validation, background checkpoints that
 * fall due by steps or seconds, progress, stopping on request with a checkpoint, and the stage's {@code final/}
 * output. A stage supplies only what it trains ({@link Task}); everything durable is here, once.
 */
public final class TrainingLoop {
    private static final Logger log = LoggerFactory.getLogger(TrainingLoop.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int HISTORY_EVERY = 10;
    /**
     * How often a running stage asks S3 whether a newer attempt replaced it, besides before and after every commit:
     * one LIST, so a replaced attempt stops within this long even between checkpoints.
     */
    static final java.time.Duration LEASE_CHECK_INTERVAL = java.time.Duration.ofSeconds(
            Long.getLong("forge.leaseCheckSeconds", 30));

    /** What a stage trains. The loop owns the optimizer step; the task only accumulates gradients. */
    public interface Task {
        /** Forward and backward over the step's micro-batches; gradients accumulate in the parameters. */
        StepLoss accumulateGradients(long step);

        /** Mean loss on the held-out split, without recording gradients. */
        double validationLoss();

        /** The stage's held-out accuracy from the last {@link #validationLoss()} call, NaN if it has none. */
        default double validationAccuracy() {
            return Double.NaN;
        }

        /** Generated once training is done; stored in {@code final/samples.json} and the run summary. */
        List<String> samples();

        /** Held-out figures measured once training is done ("...After"); stored in {@code final/state.json}. */
        default Map<String, Double> finalMetrics() {
            return Map.of();
        }

        /** Files {@code final/} carries besides the usual ones; asked for before {@link #outputWeights}. */
        default List<CheckpointFile> outputFiles() {
            return List.of();
        }

        /** The stage's output weights; a LoRA stage merges its adapters here (training is over). */
        default Map<String, HostTensor> outputWeights() {
            return null;
        }

        /**
         * Tensors a resumed run needs besides the model and its optimizer (PPO's value model and its moments), by
         * file name; host copies taken when called, on the training thread. The stage reads them back itself.
         */
        default Map<String, Map<String, HostTensor>> extraTensors() {
            return Map.of();
        }

        /** Figures the heartbeat and the UI show besides loss and throughput. */
        default Map<String, Double> progressMetrics() {
            return Map.of();
        }
    }

    /**
     * A task that takes its own optimizer steps, several per loop step: PPO's step is a rollout and then epochs of
     * mini-batch updates. It must check each update's loss before applying it and throw {@link NonFinite} rather than
     * step on a non-finite one, so that no checkpoint ever holds a NaN model.
     */
    public interface IterationTask extends Task {
        Iteration iterate(long step);

        @Override
        default StepLoss accumulateGradients(long step) {
            throw new UnsupportedOperationException("an IterationTask steps its optimizers itself");
        }
    }

    /**
     * @param state figures the resumed run needs (e.g. the adaptive KL coefficient), merged into the checkpointed
     *              state and the summary
     */
    public record Iteration(double loss, long tokens, double lr, double gradNorm, Map<String, Double> state) {}

    /** A loss, reward or gradient that is not finite: the stage stops, keeping its last good checkpoint. */
    public static final class NonFinite extends RuntimeException {
        public NonFinite(String message) {
            super(message);
        }
    }

    /** @param tokens tokens the step trained on (padding excluded), for throughput */
    public record StepLoss(double loss, long tokens) {}

    /**
     * @param evalInterval steps between validations; the last step always validates
     * @param precision    what the trained model's forward computes in (train.precision)
     * @param exportDtype  the dtype of final/'s weights (train.export_dtype)
     */
    public record Settings(String stage, long seed, long maxSteps, int evalInterval, CheckpointSpec checkpoint,
                           Precision precision, Precision exportDtype) {
        /** fp32 training and export. */
        public Settings(String stage, long seed, long maxSteps, int evalInterval, CheckpointSpec checkpoint) {
            this(stage, seed, maxSteps, evalInterval, checkpoint, Precision.FP32, Precision.FP32);
        }
    }

    /** Where a stage keeps its checkpoints and reports its progress; cache null turns reuse off. */
    public record Io(CheckpointStore store, TrainingMetrics metrics, StageControl control, StageCache cache,
                     String cacheKey) {}

    private final Settings settings;
    private final Task task;
    private final Gpt model;
    private final AdamW optimizer;
    private final Tokenizer tokenizer;
    private final Io io;
    private final long wallStart;
    private TrainState state;
    private String lastCheckpoint;
    private double lastLoss = Double.NaN;
    private long maxStallNanos;
    private long totalStallNanos;
    private int checkpointsSubmitted;

    /** @param resumedFrom the checkpoint state came from, or null for a fresh start */
    public TrainingLoop(Settings settings, Task task, Gpt model, AdamW optimizer, Tokenizer tokenizer, Io io,
                        TrainState state, String resumedFrom, long wallStart) {
        this.settings = settings;
        this.task = task;
        this.model = model;
        this.optimizer = optimizer;
        this.tokenizer = tokenizer;
        this.io = io;
        this.state = state;
        this.lastCheckpoint = resumedFrom;
        this.wallStart = wallStart;
        LossScaler scaler = optimizer.lossScaler();
        model.setPrecision(settings.precision(), scaler == null ? null : scaler::scale);
        io.store().producer(Provenance.of(model.parameters()));
    }

    public StageOutcome run() {
        long maxSteps = settings.maxSteps();
        long attemptStart = System.nanoTime();
        long lastCheckpointAt = attemptStart;
        long[] attemptTokens = {0};
        double trainSecondsBefore = state.trainSeconds();
        StageControl control = io.control();
        countLostSteps(control);
        try (CheckpointStore.LeaseWatch watch = io.store().watchLease(LEASE_CHECK_INTERVAL);
             AsyncCheckpointWriter writer = new AsyncCheckpointWriter(io.store(), c -> {
            lastCheckpoint = c.uri().toString();
            io.metrics().checkpointCommitted(c.bytes(), c.seconds());
            control.milestone(progress(c.step(), throughput(attemptStart, attemptTokens[0])));
        }, failed -> io.metrics().checkpointFailed())) {
            for (long step = state.step(); step < maxSteps; step++) {
                if (io.store().replaced()) {
                    // A newer attempt owns the stage: no stop checkpoint, no final/, nothing more written.
                    throw io.store().replacedException();
                }
                if (control.stopRequested()) {
                    long at = step;
                    // The stop checkpoint heartbeats while it uploads, so neither a pause nor a worker's grace period
                    // times the attempt out in the middle of it.
                    String uri = KeepAlive.during(control, progress(at, 0), () -> {
                        writer.awaitIdle();
                        return commitNow(at);
                    });
                    log.info("{} stopped on request at step {}; checkpoint {}", settings.stage(), step, uri);
                    return outcome(false, step, uri, List.of());
                }
                // Dropout draws from torch's RNG: seeding it from (seed, step) makes a resumed step equal the original.
                Engine.getInstance().setRandomSeed(stepSeed(settings.seed(), step));
                StepLoss sl;
                AdamW.StepStats stats;
                try {
                    if (task instanceof IterationTask it) {
                        Iteration r = it.iterate(step);
                        sl = new StepLoss(r.loss(), r.tokens());
                        requireFinite(sl, step);
                        stats = new AdamW.StepStats(r.lr(), r.gradNorm());
                        state = state.withMetrics(r.state());
                    } else {
                        sl = task.accumulateGradients(step);
                        if (!Double.isFinite(sl.loss()) && optimizer.lossScaler() != null) {
                            stats = optimizer.skipNonFiniteLoss(step);   // fp16 overflow: skip, back off
                        } else {
                            requireFinite(sl, step);
                            stats = optimizer.step(step);
                        }
                    }
                    if (stats.skipped()) {
                        countSkipped(step);
                        sl = new StepLoss(Double.isFinite(sl.loss()) ? sl.loss() : lastLoss, sl.tokens());
                    }
                } catch (NonFiniteGradientException e) {
                    // The optimizer refused the step, so the weights are still those of the step before. The upload
                    // in flight (of a good step) lands first, heartbeating, so the message names it.
                    KeepAlive.during(control, progress(step, 0), writer::awaitIdle);
                    throw new BadInputException(settings.stage() + " " + e.getMessage() + " at step " + step
                            + " (lower train.learning_rate or raise train.warmup_steps); the update was not applied;"
                            + " the last good checkpoint is " + lastGood());
                } catch (NonFinite e) {
                    // Resume is exact, so a retry would diverge at the same step: the user must change the config.
                    KeepAlive.during(control, progress(step, 0), writer::awaitIdle);
                    throw new BadInputException(e.getMessage() + "; the last good checkpoint is " + lastGood());
                }
                lastLoss = sl.loss();
                attemptTokens[0] += sl.tokens();
                long done = step + 1;
                if (done % HISTORY_EVERY == 0 || done == maxSteps) {
                    state.lossHistory().add(new double[] {done, lastLoss});
                }
                Double valLoss = state.valLoss();
                boolean evaluated = done % settings.evalInterval() == 0 || done == maxSteps;
                if (evaluated) {
                    valLoss = KeepAlive.during(control, progress(state.step(), 0), task::validationLoss);
                    io.metrics().validation(valLoss, task.validationAccuracy());
                    state.valHistory().add(new double[] {done, valLoss});
                    log.info("{} step {}/{}: train loss {}, val loss {}", settings.stage(), done, maxSteps,
                            fmt(lastLoss), fmt(valLoss));
                }
                state = state.advanced(done, sl.tokens(), trainSecondsBefore + seconds(attemptStart), valLoss);
                double tps = throughput(attemptStart, attemptTokens[0]);
                io.metrics().step(done, lastLoss, stats.lr(), stats.gradNorm(), sl.tokens(), tps);
                control.progress(progress(done, tps));
                if (evaluated) {
                    control.milestone(progress(done, tps));
                }
                boolean due = done % settings.checkpoint().intervalSteps() == 0
                        || seconds(lastCheckpointAt) >= settings.checkpoint().intervalSeconds();
                if (due && done < maxSteps) {
                    submit(writer, done, progress(done, tps));
                    lastCheckpointAt = System.nanoTime();
                }
            }
            KeepAlive.during(control, progress(maxSteps, 0), writer::awaitIdle);
        }
        if (io.store().replaced()) {
            throw io.store().replacedException();
        }
        TrainingProgress ending = progress(maxSteps, 0);
        List<String> samples = KeepAlive.during(control, ending, task::samples);
        state = state.withMetrics(KeepAlive.during(control, ending, task::finalMetrics));
        String finalUri = KeepAlive.during(control, ending, () -> commitFinal(samples));
        if (io.cache() != null) {
            io.cache().record(settings.stage(), io.cacheKey(), S3Uri.parse(finalUri));
        }
        return outcome(true, maxSteps, finalUri, samples);
    }

    /**
     * An fp16 step whose gradients overflowed was skipped and the loss scale halved, as GradScaler does: counted, so
     * a run that skips often (the scale cannot settle) shows it.
     */
    private void countSkipped(long step) {
        double skipped = state.metrics().getOrDefault("fp16StepsSkipped", 0.0) + 1;
        state = state.withMetrics(Map.of("fp16StepsSkipped", skipped));
        log.warn("{} step {}: fp16 gradients overflowed; the update was skipped and the loss scale is now {}",
                settings.stage(), step, optimizer.lossScaler().scale());
    }

    /** Once the checkpoint in flight (taken before the bad step, so good) has landed. */
    private String lastGood() {
        return lastCheckpoint != null ? lastCheckpoint : "none: the stage would start again from scratch";
    }

    private void requireFinite(StepLoss sl, long step) {
        if (!Double.isFinite(sl.loss())) {
            throw new NonFinite(settings.stage() + " training loss became " + sl.loss() + " at step " + step
                    + " (lower train.learning_rate or set train.grad_clip)");
        }
    }

    /**
     * A retried attempt (its worker died) resumes from the last checkpoint; the steps the dead attempt had done
     * beyond it are trained again. Counted so that the checkpoint interval can be judged by what it really costs.
     */
    private void countLostSteps(StageControl control) {
        OptionalLong before = control.previousAttemptStep();
        if (before.isEmpty() || before.getAsLong() <= state.step()) {
            return;
        }
        long lost = before.getAsLong() - state.step();
        io.metrics().stepsLost(lost);
        state = state.withMetrics(Map.of("stepsLost", state.metrics().getOrDefault("stepsLost", 0.0) + lost));
        log.info("{} continues at step {}; the previous attempt had reached step {}: {} steps to train again",
                settings.stage(), state.step(), before.getAsLong(), lost);
    }

    /**
     * The training thread only copies tensors to host; serializing and uploading happen in the background. It keeps
     * heartbeating while it waits for the previous upload, which a slow S3 can stretch past the heartbeat timeout.
     * It waits before copying, not after: the wait is the same, and the host then holds one copy of the state, not
     * two (the memory plan counts one).
     */
    private void submit(AsyncCheckpointWriter writer, long done, TrainingProgress now) {
        long t0 = System.nanoTime();
        KeepAlive.during(io.control(), now, writer::awaitIdle);
        Map<String, HostTensor> weights = model.snapshot();
        Map<String, HostTensor> moments = optimizer.snapshotState();
        Map<String, Map<String, HostTensor>> extra = task.extraTensors();
        TrainState snapshot = state.detached();
        KeepAlive.during(io.control(), now, () -> {
            writer.submit(CheckpointStore.stepDir(done), done, () -> stepFiles(weights, moments, extra, snapshot));
            return null;
        });
        long stall = System.nanoTime() - t0;
        maxStallNanos = Math.max(maxStallNanos, stall);
        totalStallNanos += stall;
        checkpointsSubmitted++;
        io.metrics().checkpointStall(stall);
    }

    private String commitNow(long step) {
        List<CheckpointFile> files = stepFiles(model.snapshot(), optimizer.snapshotState(), task.extraTensors(), state);
        String uri = io.store().commit(CheckpointStore.stepDir(step), files).toString();
        lastCheckpoint = uri;
        io.control().milestone(progress(step, 0));
        return uri;
    }

    /** Everything a resumed run needs, and an HF config.json so any checkpoint describes its own model. */
    private List<CheckpointFile> stepFiles(Map<String, HostTensor> weights, Map<String, HostTensor> moments,
                                           Map<String, Map<String, HostTensor>> extra, TrainState s) {
        List<CheckpointFile> files = new ArrayList<>();
        long shard = settings.checkpoint().shardBytes();
        files.addAll(CheckpointTensors.files("model", weights, Map.of("format", "pt"), shard));
        files.addAll(CheckpointTensors.files("optimizer", moments, Map.of(), shard));
        extra.forEach((name, tensors) -> files.add(CheckpointTensors.single(name, tensors, Map.of())));
        files.add(new CheckpointFile("tokenizer.json", tokenizer.toHuggingFaceJson().getBytes(StandardCharsets.UTF_8)));
        files.add(new CheckpointFile("config.json", json(model.huggingFaceConfig())));
        files.add(new CheckpointFile("state.json", s.toJson()));
        return files;
    }

    /** The stage's output: a step checkpoint's files (weights as the task wants them), the samples and a report. */
    private String commitFinal(List<String> samples) {
        List<CheckpointFile> extra = task.outputFiles();
        Map<String, HostTensor> moments = optimizer.snapshotState();
        Map<String, HostTensor> weights = task.outputWeights();
        List<CheckpointFile> files = stepFiles(
                ExportDtype.weights(weights != null ? weights : model.snapshot(), settings.exportDtype()), moments,
                task.extraTensors(), state);
        files.add(new CheckpointFile("samples.json", json(samples)));
        String finalDir = io.store().stageRoot().resolve(CheckpointStore.FINAL).toString();
        files.add(new CheckpointFile("report.html",
                forge.report.StageReport.file(state, summaryMetrics(state, lastLoss), samples, finalDir)));
        files.addAll(extra);
        files = forge.hf.HfExport.complete(files, tokenizer, model.config().blockSize(), settings.exportDtype());
        String uri = io.store().commit(CheckpointStore.FINAL, files).toString();
        lastCheckpoint = uri;
        return uri;
    }

    private TrainingProgress progress(long step, double tps) {
        Map<String, Double> m = new LinkedHashMap<>();
        if (state.valLoss() != null) {
            m.put("valLoss", state.valLoss());
        }
        m.put("tokensPerSecond", tps);
        m.putAll(task.progressMetrics());
        return new TrainingProgress(step, settings.maxSteps(), lastLoss, tps, lastCheckpoint, m);
    }

    private StageOutcome outcome(boolean completed, long step, String checkpoint, List<String> samples) {
        Map<String, Double> summary = summaryMetrics(state, lastLoss);
        // The training thread's longest wait on a background checkpoint: host copy, plus any upload still running.
        summary.put("checkpointStallMsMax", maxStallNanos / 1e6);
        // This attempt's background checkpoints (the final one is written after training and stalls nothing).
        summary.put("checkpointsSubmitted", (double) checkpointsSubmitted);
        summary.put("checkpointStallMsMean", checkpointsSubmitted == 0 ? 0 : totalStallNanos / 1e6 / checkpointsSubmitted);
        summary.put("cached", 0.0);
        double tps = state.trainSeconds() > 0 ? state.tokensSeen() / state.trainSeconds() : 0;
        return new StageOutcome(completed, step, checkpoint, seconds(wallStart), tps, summary, samples);
    }

    // ------------------------------------------------------------------------------------- starting a stage

    /**
     * A stage's state, weights and optimizer moments read back from its newest checkpoint. A run id names one spec,
     * so a checkpoint written by a different resolved config is refused rather than silently mixed.
     */
    public static TrainState resume(LoadedCheckpoint c, JsonNode resolvedConfig, TrainingMetrics metrics, Gpt model,
                                    AdamW optimizer) {
        TrainState saved = TrainState.fromJson(c.file("state.json"), c.uri().toString());
        // Compared as JSON text: a tree read back from state.json types small integers differently.
        if (!saved.config().toString().equals(resolvedConfig.toString())) {
            throw new BadInputException(c.uri() + " was written by a different config of this stage; "
                    + "a run id names one spec — start the changed spec under a new run id");
        }
        model.load(CheckpointTensors.readAll(c, "model"));
        optimizer.loadState(CheckpointTensors.readAll(c, "optimizer"));
        metrics.resumed();
        log.info("resuming {} from {} at step {}", saved.stage(), c.uri(), saved.step());
        List<String> changed = Provenance.differences(c.producer(), Provenance.of(model.parameters()));
        if (!changed.isEmpty()) {
            log.warn("resuming {} from {} on different hardware or software ({}): training continues, but it will"
                    + " not be bit-identical to an uninterrupted run, which holds only on identical hardware, engine,"
                    + " dtype and thread count", saved.stage(), c.uri(), String.join("; ", changed));
            return saved.resumed().withMetrics(Map.of("resumesOnOtherHardware",
                    saved.metrics().getOrDefault("resumesOnOtherHardware", 0.0) + 1));
        }
        return saved.resumed();
    }

    /**
     * Claims the stage for this attempt and returns the newest valid checkpoint of it, timed and counted as a
     * checkpoint read; newer ones that were torn or damaged after their commit are counted too, since each means
     * steps trained again.
     */
    public static Optional<LoadedCheckpoint> latest(CheckpointStore store, TrainingMetrics metrics) {
        long t0 = System.nanoTime();
        long skippedBefore = store.skippedCorrupt();
        // Claims the stage for this attempt (docs/fencing.md): from here on an older attempt cannot write.
        Optional<LoadedCheckpoint> c = store.resume();
        long skipped = store.skippedCorrupt() - skippedBefore;
        if (skipped > 0) {
            metrics.checkpointsCorruptSkipped(skipped);
        }
        c.ifPresent(loaded -> metrics.checkpointRead(loaded.totalBytes(), System.nanoTime() - t0));
        return c;
    }

    /** The stage's own {@code final/}: an earlier attempt finished but died before Temporal heard of it. */
    public static Optional<StageOutcome> finishedBefore(String stage, CheckpointStore store, long wallStart) {
        return store.loadFinal().map(fin -> finishedEarlier(stage, fin, wallStart, false));
    }

    /** Another run's output for the same cache key, unless this run already has checkpoints of its own. */
    public static Optional<StageOutcome> cached(String stage, StageCache cache, String key, CheckpointStore store,
                                                Optional<LoadedCheckpoint> resume, long wallStart) {
        if (cache == null || resume.isPresent()) {
            return Optional.empty();
        }
        return cache.lookup(stage, key, store).map(hit -> finishedEarlier(stage, hit, wallStart, true));
    }

    /** What a stage reports when its output already exists: from an earlier attempt, or cached from another run. */
    public static StageOutcome finishedEarlier(String stage, LoadedCheckpoint fin, long wallStart, boolean fromCache) {
        TrainState s = TrainState.fromJson(fin.file("state.json"), fin.uri().toString());
        List<String> samples;
        try {
            samples = List.of(JSON.readValue(fin.file("samples.json"), String[].class));
        } catch (IOException e) {
            samples = List.of();
        }
        log.info("{} already finished at {}{}; nothing to train", stage, fin.uri(),
                fromCache ? " (an earlier run with the same config and inputs)" : "");
        Map<String, Double> summary = summaryMetrics(s, Double.NaN);
        summary.put("cached", fromCache ? 1.0 : 0.0);
        return new StageOutcome(true, s.step(), fin.uri().toString(), seconds(wallStart),
                s.trainSeconds() > 0 ? s.tokensSeen() / s.trainSeconds() : 0, summary, samples);
    }

    static Map<String, Double> summaryMetrics(TrainState state, double lastLoss) {
        Map<String, Double> metrics = new LinkedHashMap<>();
        if (state.valLossStart() != null) metrics.put("valLossStart", state.valLossStart());
        if (state.valLoss() != null) metrics.put("valLossEnd", state.valLoss());
        if (!Double.isNaN(lastLoss)) metrics.put("trainLossEnd", lastLoss);
        metrics.putAll(state.metrics());
        metrics.put("resumes", (double) state.resumes());
        metrics.put("tokensSeen", (double) state.tokensSeen());
        metrics.put("trainSeconds", state.trainSeconds());
        return metrics;
    }

    /** Torch takes an int seed; mix (seed, step) so that neighbouring steps get unrelated streams. */
    public static int stepSeed(long seed, long step) {
        long z = seed * 0x9E3779B97F4A7C15L + step;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return (int) (z ^ (z >>> 31));
    }

    private static double throughput(long attemptStart, long tokens) {
        double s = seconds(attemptStart);
        return s > 0 ? tokens / s : 0;
    }

    private static double seconds(long sinceNanos) {
        return (System.nanoTime() - sinceNanos) / 1e9;
    }

    public static String fmt(double v) {
        return String.format(java.util.Locale.ROOT, "%.4f", v);
    }

    public static byte[] json(Object o) {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
