package forge.bench;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.errors.BadInputException;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainingMetrics;
import forge.train.TrainingProgress;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Whether a long run leaks: a small model trained for many steps through the real pretrain stage (training loop,
 * validation, background checkpoints to the embedded S3), with the process's resident memory, Java heap, threads,
 * open files and live DJL arrays sampled from a background thread. A native leak (an NDArray that outlives its step,
 * a buffer libtorch never frees) shows as resident memory that keeps rising after warm-up; the least-squares slope
 * over the steps after warm-up says how fast.
 */
public final class MemoryBench {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final double MB = 1024.0 * 1024.0;

    /**
     * The target. Each step creates its batch's ids (batch × block int64, 2 KB here) and activations (tens of KB);
     * leaking the smallest of them, with libtorch's bookkeeping, adds over 2 MB per 1,000 steps, so 1 MB per 1,000
     * steps catches any per-step tensor leak while leaving room for the JIT, malloc arenas and the heap settling.
     * A leak smaller than that (a scalar per step) shows in the live-array count, which has no slack at all.
     */
    static final double SLOPE_TARGET_MB_PER_1000 = 1.0;

    /**
     * @param steps           training steps
     * @param warmupSteps     steps before the slope is fitted: the allocator, JIT and heap grow to their working size
     * @param checkpointEvery steps between background checkpoints
     * @param evalEvery       steps between validations
     * @param sampleMillis    time between samples
     * @param seed            seeds the model and the batches
     */
    public record Settings(long steps, long warmupSteps, int checkpointEvery, int evalEvery, long sampleMillis,
                           long seed) {
        public Settings {
            if (steps < 2) {
                throw BadInputException.field("bench.steps", "must be >= 2, got " + steps);
            }
            if (warmupSteps < 0 || warmupSteps >= steps) {
                throw BadInputException.field("bench.warmup_steps", "must be in [0, steps), got " + warmupSteps);
            }
            if (checkpointEvery < 1) {
                throw BadInputException.field("bench.checkpoint_every", "must be >= 1, got " + checkpointEvery);
            }
            if (evalEvery < 1) {
                throw BadInputException.field("bench.eval_every", "must be >= 1, got " + evalEvery);
            }
            if (sampleMillis < 10) {
                throw BadInputException.field("bench.sample_millis", "must be >= 10, got " + sampleMillis);
            }
        }

        /** 20,000 steps; the slope is fitted after the first tenth, checkpoints every 1,000, validation every 2,500. */
        public static Settings defaults() {
            return ofSteps(20_000);
        }

        /** The defaults' proportions for another length. */
        public static Settings ofSteps(long steps) {
            return new Settings(steps, Math.max(1, steps / 10), (int) Math.max(1, Math.min(1000, steps / 20)),
                    (int) Math.max(1, Math.min(2500, steps / 8)), 500, 1);
        }
    }

    /**
     * One reading. {@code rssBytes}, {@code threads} and {@code openFiles} are -1 where /proc is missing;
     * {@code liveArrays}, as counted at the last step boundary, is -1 where DJL's managers cannot be read and before
     * the first count.
     */
    public record Sample(long step, double seconds, long rssBytes, long heapUsedBytes, long heapCommittedBytes,
                         int threads, int openFiles, long liveArrays) {}

    /** A least-squares line through (x, y) points: slope and intercept. */
    record Fit(double slope, double intercept, int points) {
        static Fit of(double[] x, double[] y) {
            int n = x.length;
            if (n < 2) {
                return new Fit(Double.NaN, Double.NaN, n);
            }
            double mx = 0;
            double my = 0;
            for (int i = 0; i < n; i++) {
                mx += x[i] / n;
                my += y[i] / n;
            }
            double sxy = 0;
            double sxx = 0;
            for (int i = 0; i < n; i++) {
                sxy += (x[i] - mx) * (y[i] - my);
                sxx += (x[i] - mx) * (x[i] - mx);
            }
            double slope = sxx == 0 ? Double.NaN : sxy / sxx;
            return new Fit(slope, my - slope * mx, n);
        }
    }

    public record Result(Settings settings, List<Sample> samples, double trainSeconds, StageOutcome outcome) {
        /** Samples taken while training ran, from the end of warm-up on. */
        List<Sample> fitted() {
            return samples.stream().filter(s -> s.step() >= settings.warmupSteps() && s.step() < settings.steps())
                    .toList();
        }

        /** MB of resident memory per 1,000 steps after warm-up. */
        double rssSlopeMbPer1000Steps() {
            return slope(fitted(), Sample::step, s -> s.rssBytes() / MB) * 1000;
        }

        /** MB of resident memory per hour after warm-up. */
        double rssSlopeMbPerHour() {
            return slope(fitted(), Sample::seconds, s -> s.rssBytes() / MB) * 3600;
        }

        /**
         * MB per 1,000 steps over the second half only. The JIT, metaspace, malloc arenas and the first touch of the
         * heap's committed pages grow memory early and then stop; a leak grows it at the same rate to the end.
         */
        double rssSecondHalfSlopeMbPer1000Steps() {
            List<Sample> late = fitted().stream().filter(x -> x.step() >= settings.steps() / 2).toList();
            return slope(late, Sample::step, x -> x.rssBytes() / MB) * 1000;
        }

        /** Resident memory at the last sample at or before each tenth of the run. */
        List<Long> rssByTenth() {
            List<Long> out = new ArrayList<>();
            for (int tenth = 1; tenth <= 10; tenth++) {
                long at = settings.steps() * tenth / 10;
                out.add(samples.stream().filter(x -> x.step() <= at && x.step() < settings.steps())
                        .reduce((a, b) -> b).map(Sample::rssBytes).orElse(-1L));
            }
            return out;
        }

        /** Resident memory outside the committed Java heap: libtorch, malloc, threads, metaspace, code. */
        double nonHeapSlopeMbPer1000Steps() {
            return slope(fitted(), Sample::step, s -> (s.rssBytes() - s.heapCommittedBytes()) / MB) * 1000;
        }

        /** Over the stage's training time as it records it (steps and validations; not data loading). */
        double stepsPerSecond() {
            double t = outcome == null ? trainSeconds : outcome.metrics().getOrDefault("trainSeconds", trainSeconds);
            return settings.steps() / t;
        }

        private static double slope(List<Sample> pts, java.util.function.ToDoubleFunction<Sample> x,
                                    java.util.function.ToDoubleFunction<Sample> y) {
            return Fit.of(pts.stream().mapToDouble(x).toArray(), pts.stream().mapToDouble(y).toArray()).slope();
        }
    }

    private MemoryBench() {
    }

    /** Trains, samples, and reports; progress gets a line every tenth of the run. */
    public static BenchSection run(Settings s, Consumer<String> progress) {
        return section(measure(s, progress));
    }

    public static Result measure(Settings s, Consumer<String> progress) {
        AtomicLong step = new AtomicLong();
        long t0 = System.nanoTime();
        List<Sample> samples = Collections.synchronizedList(new ArrayList<>());
        LiveArrays arrays = new LiveArrays();
        // Counted between steps, on the training thread: mid-step the count includes the step's own arrays.
        AtomicLong boundaryArrays = new AtomicLong(-1);
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "memory-bench-sampler");
            t.setDaemon(true);
            return t;
        });
        long reportEvery = Math.max(1, s.steps() / 10);
        StageControl control = new StageControl() {
            private long firstStepAt;

            @Override
            public void progress(TrainingProgress p) {
                if (firstStepAt == 0) {
                    firstStepAt = System.nanoTime();
                }
                step.set(p.step());
                if (p.step() % 50 == 0) {
                    boundaryArrays.set(arrays.count());
                }
                if (p.step() % reportEvery == 0) {
                    Sample x = sample(p.step(), t0, boundaryArrays.get());
                    progress.accept(String.format(Locale.ROOT, "step %,d/%,d: RSS %.1f MB, heap %.1f/%.1f MB, "
                                    + "%d threads, %d open files, %d live arrays, %.0f steps/s", p.step(), s.steps(),
                            x.rssBytes() / MB, x.heapUsedBytes() / MB, x.heapCommittedBytes() / MB, x.threads(),
                            x.openFiles(), x.liveArrays(), p.step() / ((System.nanoTime() - firstStepAt) / 1e9)));
                }
            }

            @Override
            public void milestone(TrainingProgress p) {
            }

            @Override
            public boolean stopRequested() {
                return false;
            }
        };
        samples.add(sample(0, t0, -1));
        StageOutcome outcome;
        long trainStart;
        long trainEnd;
        try (BenchS3 s3 = BenchS3.start("memory")) {
            sampler.scheduleAtFixedRate(() -> samples.add(sample(step.get(), t0, boundaryArrays.get())), s.sampleMillis(),
                    s.sampleMillis(), TimeUnit.MILLISECONDS);
            progress.accept(String.format(Locale.ROOT, "pretraining %,d steps (%s)", s.steps(), describe(s)));
            trainStart = System.nanoTime();
            outcome = new PretrainStage(config(s), s3.store("memory", "pretrain", 2), s3.storage,
                    new TrainingMetrics(new SimpleMeterRegistry(), "bench-memory", "pretrain"), null).run(control);
            trainEnd = System.nanoTime();
            sampler.shutdown();
            sampler.awaitTermination(10, TimeUnit.SECONDS);
            samples.add(sample(s.steps(), t0, -1));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            sampler.shutdownNow();
        }
        List<Sample> ordered;
        synchronized (samples) {
            ordered = new ArrayList<>(samples);
        }
        return new Result(s, List.copyOf(ordered), (trainEnd - trainStart) / 1e9, outcome);
    }

    static String describe(Settings s) {
        return String.format(Locale.ROOT, "char tokenizer, 2 layers, 2 heads, 64 wide, context 32, batch 8; "
                + "checkpoint every %,d steps, validation every %,d", s.checkpointEvery(), s.evalEvery());
    }

    static PretrainConfig config(Settings s) {
        try {
            return PretrainConfig.parse(YAML.readTree("""
                    seed: %d
                    cache: false
                    model: {n_layer: 2, n_head: 2, n_embd: 64, block_size: 32}
                    tokenizer: {type: char}
                    data: {sources: [{path: "demo:pretrain?seed=7&docs=2000"}]}
                    train: {max_steps: %d, batch_size: 8, warmup_steps: 100, learning_rate: 1.0e-3}
                    eval: {interval: %d, batches: 4}
                    checkpoint: {interval_steps: %d, interval_seconds: 100000, keep_last: 2}
                    sample: {count: 0}
                    """.formatted(s.seed(), s.steps(), s.evalEvery(), s.checkpointEvery())));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Sample sample(long step, long t0, long liveArrays) {
        MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        Map<String, Long> status = procStatus();
        long rss = status.getOrDefault("VmRSS", -1L);
        return new Sample(step, (System.nanoTime() - t0) / 1e9, rss < 0 ? -1 : rss * 1024, heap.getUsed(),
                heap.getCommitted(), status.getOrDefault("Threads", -1L).intValue(), openFiles(), liveArrays);
    }

    /** The numeric fields of /proc/self/status (VmRSS in kB, Threads); empty where there is no /proc. */
    static Map<String, Long> procStatus() {
        Map<String, Long> out = new java.util.HashMap<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                int colon = line.indexOf(':');
                if (colon < 0) {
                    continue;
                }
                String[] value = line.substring(colon + 1).strip().split("\\s+");
                try {
                    out.put(line.substring(0, colon), Long.parseLong(value[0]));
                } catch (NumberFormatException e) {
                    // not a number (State, Name, masks): not needed
                }
            }
        } catch (IOException e) {
            return Map.of();
        }
        return out;
    }

    static int openFiles() {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return (int) fds.count();
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * NDArrays still registered with a DJL manager, counted from the engine's system manager down. DJL offers only a
     * log dump ({@code BaseNDManager.debugDump}), so this reads its resource maps by reflection; they are concurrent
     * maps, so reading them while the training thread works is safe. Closed arrays leave their manager's map, so a
     * count that grows step after step is an array some step never closed.
     */
    static final class LiveArrays {
        private final NDManager system;
        private final Field resources;

        LiveArrays() {
            NDManager root = null;
            Field f = null;
            try (NDManager probe = NDManager.newBaseManager()) {
                root = probe.getParentManager();
                f = BaseNDManager.class.getDeclaredField("resources");
                f.setAccessible(true);
            } catch (ReflectiveOperationException | RuntimeException e) {
                root = null;
            }
            system = root;
            resources = f;
        }

        long count() {
            if (system == null || resources == null) {
                return -1;
            }
            try {
                return count(system, 0);
            } catch (ReflectiveOperationException | RuntimeException e) {
                return -1;
            }
        }

        private long count(NDManager m, int depth) throws ReflectiveOperationException {
            if (!(m instanceof BaseNDManager) || depth > 64) {
                return 0;
            }
            long n = 0;
            for (Object r : ((Map<?, ?>) resources.get(m)).values()) {
                if (r instanceof NDArray) {
                    n++;
                } else if (r instanceof NDManager child) {
                    n += count(child, depth + 1);
                }
            }
            return n;
        }
    }

    /** The report: memory at the run's landmarks, the slope after warm-up, and what else a leak would grow. */
    public static BenchSection section(Result r) {
        Settings s = r.settings();
        List<Sample> all = r.samples();
        List<Sample> fitted = r.fitted();
        Sample start = all.get(0);
        Sample warm = fitted.isEmpty() ? all.get(all.size() - 1) : fitted.get(0);
        Sample end = fitted.isEmpty() ? all.get(all.size() - 1) : fitted.get(fitted.size() - 1);
        long maxRss = all.stream().mapToLong(Sample::rssBytes).max().orElse(-1);
        long maxHeap = all.stream().mapToLong(Sample::heapCommittedBytes).max().orElse(-1);
        boolean proc = start.rssBytes() >= 0;
        List<BenchSection.Row> rows = new ArrayList<>();
        rows.add(BenchSection.Row.of("steps (after warm-up)", String.format(Locale.ROOT, "%,d (%,d)", s.steps(),
                s.steps() - s.warmupSteps())));
        rows.add(BenchSection.Row.of("steps/s", String.format(Locale.ROOT, "%.1f", r.stepsPerSecond())));
        if (proc) {
            rows.add(BenchSection.Row.of("RSS: before the stage / after warm-up (step " + String.format(Locale.ROOT,
                    "%,d", warm.step()) + ") / end", String.format(Locale.ROOT, "%.0f / %.0f / %.0f MB",
                    start.rssBytes() / MB, warm.rssBytes() / MB, end.rssBytes() / MB)));
            rows.add(BenchSection.Row.of("RSS: max", String.format(Locale.ROOT, "%.0f MB", maxRss / MB)));
            double slope = r.rssSlopeMbPer1000Steps();
            rows.add(BenchSection.Row.withTarget("RSS slope after warm-up", String.format(Locale.ROOT,
                    "%+.3f MB per 1,000 steps (%+.1f MB/h)", slope, r.rssSlopeMbPerHour()),
                    String.format(Locale.ROOT, "≤ %.1f MB per 1,000 steps", SLOPE_TARGET_MB_PER_1000),
                    slope <= SLOPE_TARGET_MB_PER_1000));
            rows.add(BenchSection.Row.of("RSS slope over the second half", String.format(Locale.ROOT,
                    "%+.3f MB per 1,000 steps", r.rssSecondHalfSlopeMbPer1000Steps())));
            rows.add(BenchSection.Row.of("RSS at each tenth of the run", r.rssByTenth().stream()
                    .map(b -> String.format(Locale.ROOT, "%.0f", b / MB)).collect(java.util.stream.Collectors
                            .joining(" / ")) + " MB"));
            rows.add(BenchSection.Row.of("slope of RSS outside the committed Java heap", String.format(Locale.ROOT,
                    "%+.3f MB per 1,000 steps", r.nonHeapSlopeMbPer1000Steps())));
        } else {
            rows.add(BenchSection.Row.of("RSS", "not measured: no /proc on this system"));
        }
        rows.add(BenchSection.Row.of("Java heap: used at end / committed at end / max committed",
                String.format(Locale.ROOT, "%.0f / %.0f / %.0f MB", end.heapUsedBytes() / MB,
                        end.heapCommittedBytes() / MB, maxHeap / MB)));
        if (warm.liveArrays() >= 0) {
            rows.add(BenchSection.Row.withTarget("live NDArrays: after warm-up / end",
                    String.format(Locale.ROOT, "%,d / %,d", warm.liveArrays(), end.liveArrays()), "no growth",
                    end.liveArrays() <= warm.liveArrays()));
        }
        if (proc) {
            rows.add(BenchSection.Row.of("threads: before the stage / after warm-up / end",
                    start.threads() + " / " + warm.threads() + " / " + end.threads()));
            rows.add(BenchSection.Row.of("open files: before the stage / after warm-up / end",
                    start.openFiles() + " / " + warm.openFiles() + " / " + end.openFiles()));
        }
        List<String> notes = new ArrayList<>();
        notes.add(String.format(Locale.ROOT, "The real pretrain stage in this process (training loop, validation, "
                        + "background checkpoints to the embedded S3): %s. Sampled every %d ms (%d samples, %d after "
                        + "warm-up): resident memory (VmRSS), Java heap, OS threads, open file descriptors, and the "
                        + "NDArrays still registered with a DJL manager. The slope is a least-squares fit of RSS "
                        + "against the step over the %,d steps after warm-up.", describe(s), s.sampleMillis(),
                all.size(), fitted.size(), s.steps() - s.warmupSteps()));
        notes.add(String.format(Locale.ROOT, "Target: %.0f MB per 1,000 steps. Each step creates its batch's ids "
                + "(8 × 32 int64, 2 KB) and activations (tens of KB); leaking even the smallest of them, with "
                + "libtorch's bookkeeping, would add over 2 MB per 1,000 steps, so the target catches any per-step "
                + "tensor leak while leaving room for the JIT, malloc arenas and the heap settling. A smaller leak (a "
                + "scalar per step) shows in the live-array count, which has no slack.", SLOPE_TARGET_MB_PER_1000));
        notes.add("Memory settles for thousands of steps: the JIT fills its code cache, malloc's arenas grow to the "
                + "working set in jumps, the heap's committed pages are touched for the first time. A leak grows at "
                + "one rate to the end; settling slows down, so a second-half slope well under the whole slope, and "
                + "tenths that level off, point to settling. Runs much shorter than 20,000 steps fit mostly settling "
                + "and overstate the slope. MB/h is the fit against wall time, so it scales with steps/s.");
        return new BenchSection("Memory over a long run", rows, notes);
    }
}
