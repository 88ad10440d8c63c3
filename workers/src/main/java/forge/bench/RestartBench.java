package forge.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.Manifest;
import forge.dev.DevStack;
import forge.errors.BadInputException;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.worker.Role;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import forge.workflow.TaskQueues;
import forge.workflow.TrainingPipeline;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowOptions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How long training stops when a GPU worker is SIGKILLed after a checkpoint: the dev stack (Temporal test server on a
 * port, S3Proxy on loopback) and a control worker in this JVM, stage workers as separate JVMs as on real pods. Each
 * kill hits a fresh pretraining run on its first attempt, so every kill meets the same retry backoff; a new worker
 * process is started the moment the old one dies.
 *
 * <p>Times are wall-clock seconds on this machine: this JVM's (kill, process start, and forge_step on the new worker's
 * /metrics passing the checkpoint, polled every 25 ms) and the new worker's JSON log (when it started polling, when
 * the retried attempt started, when the checkpoint was loaded). The Java test server's own timestamps in
 * DescribeWorkflowExecution drift from the wall clock, so none are used.
 */
public final class RestartBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern RESUMING = Pattern.compile("resuming pretrain from \\S+ at step (\\d+)");
    /** StageActivitiesImpl's first line of an attempt; a retry is any attempt after the first. */
    private static final Pattern ATTEMPT_STARTED = Pattern.compile("pretrain attempt ([2-9]|\\d\\d+) started");
    /** Temporal's first retry waits this long (TrainingPipelineImpl's stage retry policy). */
    private static final Duration RETRY_INITIAL_INTERVAL = Duration.ofSeconds(5);
    private static final Duration PHASE_TIMEOUT = Duration.ofMinutes(3);
    private static final long POLL_MS = 25;

    private RestartBench() {
    }

    /**
     * @param kills            workers killed, each on its own run
     * @param heartbeatTimeout the stage's heartbeat_timeout_seconds: how soon Temporal notices a dead worker
     * @param stepsPast        steps trained beyond the newest checkpoint before the kill (they are trained again)
     * @param checkpointEvery  the stage's checkpoint interval in steps
     * @param dir              scratch folder for S3 objects and worker logs; null for a temp folder (deleted after)
     */
    public record Settings(int kills, int heartbeatTimeout, int stepsPast, int checkpointEvery, Path dir) {
        public Settings {
            if (kills < 1 || kills > 10) {
                throw BadInputException.field("bench.kills", "must be in [1, 10], got " + kills);
            }
            if (heartbeatTimeout < 2 || heartbeatTimeout > 600) {
                throw BadInputException.field("bench.heartbeat_timeout", "must be in [2, 600] s, got "
                        + heartbeatTimeout);
            }
            if (stepsPast < 1 || stepsPast >= checkpointEvery) {
                throw BadInputException.field("bench.steps_past", "must be in [1, checkpoint interval), got "
                        + stepsPast);
            }
        }

        public static Settings defaults() {
            // 10 s, not the tests' 5: on two busy cores a cold worker's stage setup can stay silent for 5 s, and a
            // first attempt timed out that way makes the killed one a third attempt with twice the retry backoff.
            return new Settings(3, 10, 10, 50, null);
        }
    }

    /**
     * One kill, in seconds; NaN where it was not observed.
     *
     * @param retryAttempt      the attempt the new worker ran; above 2 the retry waited a doubled backoff, because
     *                          an earlier attempt of the run had already timed out
     * @param jvmToPolling      new process started → its worker polls Temporal ("worker started" in its log)
     * @param killToRetry       SIGKILL → the new worker starts the retried attempt (its log)
     * @param retryToLoaded     retried attempt started → checkpoint downloaded, verified and loaded (worker log)
     * @param retryToStep       retried attempt started → first step past the checkpoint done
     * @param processToTraining new process started → first step past the checkpoint done
     * @param killToTraining    SIGKILL → first step past the checkpoint done
     */
    public record Kill(long checkpointStep, long stepAtKill, int retryAttempt, double jvmToPolling, double killToRetry,
                       double retryToLoaded, double retryToStep, double processToTraining,
                       double killToTraining) {
    }

    public record Result(Settings settings, String model, List<Kill> kills) {
        public BenchSection section() {
            List<BenchSection.Row> rows = new ArrayList<>();
            rows.add(row("(a) new JVM started → worker polling Temporal", Kill::jvmToPolling));
            rows.add(row("(b) SIGKILL → retried attempt starts on the new worker", Kill::killToRetry));
            rows.add(row("(c) retried attempt starts → checkpoint downloaded, verified and loaded",
                    Kill::retryToLoaded));
            rows.add(row("(c) retried attempt starts → first step past the checkpoint", Kill::retryToStep));
            rows.add(row("**(d) new process started → training again**", Kill::processToTraining));
            rows.add(row("SIGKILL → training again", Kill::killToTraining));
            StringBuilder each = new StringBuilder("Each kill (checkpoint step/step at kill, retry attempt: a, b, c, d "
                    + "in s): ");
            for (int i = 0; i < kills.size(); i++) {
                Kill k = kills.get(i);
                each.append(i == 0 ? "" : "; ").append(String.format(Locale.ROOT,
                        "%d/%d, attempt %d: %.2f, %.2f, %.2f, %.2f", k.checkpointStep(), k.stepAtKill(),
                        k.retryAttempt(), k.jvmToPolling(), k.killToRetry(), k.retryToStep(), k.processToTraining()));
            }
            List<String> notes = List.of(String.format(Locale.ROOT,
                    "Median of %d kills. Each SIGKILLs a GPU worker JVM %d steps past a committed checkpoint of a "
                            + "fresh pretraining run (%s; checkpoint every %d steps) and starts a new worker process "
                            + "at once; the workflow's worker keeps running. heartbeat_timeout_seconds = %d, workers "
                            + "heartbeat every second and the stage retry policy waits %d s before the first retry, "
                            + "so Temporal schedules the retry at most %d s after the last heartbeat; (b) is that or "
                            + "the new JVM's start-up (a), whichever is longer. (d) is what a user waits for when the "
                            + "pod is replaced at once; the %d steps past the checkpoint are trained again on top.",
                    kills.size(), settings.stepsPast(), model, settings.checkpointEvery(),
                    settings.heartbeatTimeout(), RETRY_INITIAL_INTERVAL.toSeconds(),
                    settings.heartbeatTimeout() + RETRY_INITIAL_INTERVAL.toSeconds(), settings.stepsPast()),
                    "Times are this machine's wall clock: SIGKILL, process start and the first step past the "
                            + "checkpoint (forge_step on the new worker's /metrics, polled every 25 ms) from the "
                            + "benchmark; start-up, the retried attempt's start and the checkpoint load from the new "
                            + "worker's JSON log. " + each);
            return new BenchSection("Restart after a killed worker", rows, notes);
        }

        private BenchSection.Row row(String figure, ToDoubleFunction<Kill> f) {
            double[] values = kills.stream().mapToDouble(f).filter(v -> !Double.isNaN(v)).toArray();
            return BenchSection.Row.of(figure, values.length == 0 ? "not observed"
                    : String.format(Locale.ROOT, "%.2f s", CheckpointIoBench.median(values)));
        }
    }

    public static BenchSection run(Settings settings, Consumer<String> progress) {
        return measure(settings, progress).section();
    }

    public static Result measure(Settings settings, Consumer<String> progress) {
        Path dir = settings.dir();
        boolean ownDir = dir == null;
        try {
            dir = ownDir ? Files.createTempDirectory("forge-bench-restart-") : Files.createDirectories(dir);
            return measureIn(settings, dir, progress);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            if (ownDir && dir != null) {
                CheckpointIoBench.deleteQuietly(dir);
            }
        }
    }

    private static final String MODEL = "4 layers, width 128, context 128, character tokenizer, batch 8";

    private static JsonNode spec(Settings s) {
        try {
            return JSON.readTree("""
                    {"name": "restart-bench", "stages": {"pretrain": {
                      "heartbeat_timeout_seconds": %d, "seed": 42, "cache": false,
                      "model": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128, "dropout": 0.0},
                      "tokenizer": {"type": "char"},
                      "data": {"sources": [{"path": "demo:pretrain?seed=3&docs=1500"}]},
                      "train": {"max_steps": 1000000, "batch_size": 8, "warmup_steps": 20},
                      "eval": {"interval": 1000000, "batches": 1},
                      "checkpoint": {"interval_steps": %d, "interval_seconds": 3600, "keep_last": 2},
                      "sample": {"count": 1, "max_new_tokens": 8}}}}
                    """.formatted(s.heartbeatTimeout(), s.checkpointEvery()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Result measureIn(Settings s, Path dir, Consumer<String> progress)
            throws IOException, InterruptedException {
        List<Process> processes = new ArrayList<>();
        List<Kill> kills = new ArrayList<>();
        try (DevStack dev = DevStack.start(dir.resolve("s3"), 0, 0)) {
            S3Settings s3 = dev.s3Settings();
            WorkerSettings ws = WorkerSettings.fromEnvironment(Map.of()).withTemporalAddress(dev.temporalAddress())
                    .withS3(s3).withMetricsPort(-1).withHeartbeatInterval(Duration.ofSeconds(1));
            // The workflow's worker stays up here: the figure is a lost GPU pod, not a lost control plane.
            try (WorkerProcess control = WorkerProcess.start(ws, Role.CONTROL, List.of(TaskQueues.GPU));
                 S3Storage storage = new S3Storage(s3)) {
                WorkflowClient client = control.client();
                Worker current = Worker.launch(dev, dir, 0, processes);
                progress.accept("Temporal " + dev.temporalAddress() + ", S3 " + dev.s3Endpoint() + "; worker 0 "
                        + "started");
                for (int k = 0; k < s.kills(); k++) {
                    String runId = "restart-" + k;
                    TrainingPipeline pipeline = client.newWorkflowStub(TrainingPipeline.class, WorkflowOptions
                            .newBuilder().setWorkflowId(runId).setTaskQueue(TaskQueues.CONTROL)
                            .setWorkflowExecutionTimeout(Duration.ofMinutes(30)).build());
                    WorkflowClient.start(pipeline::run, spec(s), null);
                    CheckpointStore store = new CheckpointStore(storage, s3.stageRoot(runId, "pretrain"), 2);

                    long firstCheckpoint = awaitCheckpoint(store, storage, current, s.checkpointEvery());
                    long stepAtKill = awaitStep(current, runId, firstCheckpoint + s.stepsPast());
                    double killAt = now();
                    current.process.destroyForcibly();
                    current.process.waitFor();
                    Worker next = Worker.launch(dev, dir, k + 1, processes);
                    // Read after the kill: a newer checkpoint may have been committed meanwhile, and none can be now.
                    long committed = newestCommitted(store, storage).orElseThrow();
                    progress.accept(String.format(Locale.ROOT, "kill %d/%d: worker %d SIGKILLed at step %d "
                            + "(checkpoint %d); worker %d started", k + 1, s.kills(), k, stepAtKill, committed, k + 1));
                    double training = awaitStepPast(next, runId, committed);
                    Optional<JsonNode> retry = next.firstEvent(runId, m -> ATTEMPT_STARTED.matcher(m).matches());
                    double attemptStarted = retry.map(e -> e.path("timestamp").asLong() / 1000.0)
                            .orElse(Double.NaN);
                    int attempt = retry.map(e -> e.path("mdc").path("attempt").asInt()).orElse(0);
                    Kill kill = new Kill(committed, stepAtKill, attempt,
                            next.logTime(null, m -> m.startsWith("worker started")) - next.startedAt,
                            attemptStarted - killAt,
                            next.logTime(runId, m -> resumedAt(m, committed)) - attemptStarted,
                            training - attemptStarted,
                            training - next.startedAt,
                            training - killAt);
                    kills.add(kill);
                    progress.accept(String.format(Locale.ROOT, "kill %d/%d: retry started %.2f s after the kill, "
                                    + "training again %.2f s after it (%.2f s after the new process started)",
                            k + 1, s.kills(), kill.killToRetry(), kill.killToTraining(), kill.processToTraining()));
                    client.newUntypedWorkflowStub(runId).terminate("restart benchmark done with this run");
                    current = next;
                }
            }
        } finally {
            for (Process p : processes) {
                p.destroyForcibly();
            }
            for (Process p : processes) {
                p.waitFor();
            }
        }
        return new Result(s, MODEL, kills);
    }

    /** A worker JVM as on a pod: its own log folder (forge.log, JSON lines) and /metrics port. */
    private static final class Worker {
        final Process process;
        final double startedAt;
        final Path log;
        final URI metrics;

        private Worker(Process process, double startedAt, Path log, URI metrics) {
            this.process = process;
            this.startedAt = startedAt;
            this.log = log;
            this.metrics = metrics;
        }

        static Worker launch(DevStack dev, Path dir, int index, List<Process> processes) throws IOException {
            Path logDir = Files.createDirectories(dir.resolve("worker-" + index));
            int port = freePort();
            List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx1g", "-Dlogback.configurationFile=logback.xml", "-Dforge.console.level=WARN",
                    "-Dforge.log.dir=" + logDir, "-cp", System.getProperty("java.class.path"),
                    "forge.cli.Forge", "worker", "--role", "gpu", "--address", dev.temporalAddress(),
                    "--threads", "2", "--metrics-port", Integer.toString(port));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logDir.resolve("console.log").toFile()));
            Map<String, String> env = pb.environment();
            S3Settings s3 = dev.s3Settings();
            env.put("FORGE_S3_ENDPOINT", dev.s3Endpoint());
            env.put("FORGE_S3_BUCKET", s3.bucket());
            env.put("FORGE_S3_PREFIX", s3.prefix());
            env.put("FORGE_HEARTBEAT_INTERVAL_SECONDS", "1");
            env.put("AWS_ACCESS_KEY_ID", DevStack.ACCESS_KEY);
            env.put("AWS_SECRET_ACCESS_KEY", DevStack.SECRET_KEY);
            env.putIfAbsent("GOMP_SPINCOUNT", "10000");
            env.putIfAbsent("MALLOC_MMAP_THRESHOLD_", "33554432");    // as ./forge sets them
            env.putIfAbsent("MALLOC_TRIM_THRESHOLD_", "268435456");
            double startedAt = now();
            Process p = pb.start();
            processes.add(p);
            return new Worker(p, startedAt, logDir.resolve("forge.log"),
                    URI.create("http://127.0.0.1:" + port + "/metrics"));
        }

        /** Epoch seconds of the first log event of {@code runId} whose message matches; NaN when there is none. */
        double logTime(String runId, Predicate<String> message) {
            return firstEvent(runId, message).map(e -> e.path("timestamp").asLong() / 1000.0).orElse(Double.NaN);
        }

        /** {@code runId} null matches events outside any run. */
        Optional<JsonNode> firstEvent(String runId, Predicate<String> message) {
            if (!Files.exists(log)) {
                return Optional.empty();
            }
            try {
                for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                    if (line.isBlank()) {
                        continue;
                    }
                    JsonNode e = JSON.readTree(line);
                    if ((runId == null || runId.equals(e.path("mdc").path("run").asText()))
                            && message.test(e.path("formattedMessage").asText())) {
                        return Optional.of(e);
                    }
                }
            } catch (IOException e) {
                return Optional.empty();
            }
            return Optional.empty();
        }

        /** The worker's /metrics page; empty while it is not serving yet. */
        String scrape() {
            try {
                return HTTP.send(HttpRequest.newBuilder(metrics).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
            } catch (IOException e) {
                return "";
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "";
            }
        }
    }

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

    private static boolean resumedAt(String message, long step) {
        Matcher m = RESUMING.matcher(message);
        return m.find() && Long.parseLong(m.group(1)) == step;
    }

    /** Waits for a committed step checkpoint at {@code minStep} or later. */
    private static long awaitCheckpoint(CheckpointStore store, S3Storage storage, Worker w, long minStep)
            throws InterruptedException {
        long deadline = System.nanoTime() + PHASE_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            requireAlive(w);
            OptionalLong step = newestCommitted(store, storage);
            if (step.isPresent() && step.getAsLong() >= minStep) {
                return step.getAsLong();
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("no checkpoint within " + PHASE_TIMEOUT.toMinutes() + " minutes; see "
                + w.log.getParent());
    }

    /** The newest step checkpoint with a manifest; listing only, so polling does not download checkpoints. */
    private static OptionalLong newestCommitted(CheckpointStore store, S3Storage storage) {
        for (String name : store.stepDirs()) {
            if (storage.exists(store.stageRoot().resolve(name).resolve(Manifest.FILE_NAME))) {
                return OptionalLong.of(Long.parseLong(name.substring(name.indexOf('-') + 1)));
            }
        }
        return OptionalLong.empty();
    }

    /** Polls the worker's /metrics until the run's step reaches {@code step}; returns the step seen. */
    private static long awaitStep(Worker w, String runId, long step) throws InterruptedException {
        long deadline = System.nanoTime() + PHASE_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            requireAlive(w);
            double seen = metric(w.scrape(), "forge_step", "run=\"" + runId + "\"");
            if (seen >= step) {
                return (long) seen;
            }
            Thread.sleep(POLL_MS);
        }
        throw new IllegalStateException("step " + step + " not reached within " + PHASE_TIMEOUT.toMinutes()
                + " minutes; see " + w.log.getParent());
    }

    /** Epoch seconds when the worker's /metrics first shows the run past {@code checkpointStep}. */
    private static double awaitStepPast(Worker w, String runId, long checkpointStep) throws InterruptedException {
        awaitStep(w, runId, checkpointStep + 1);
        return now();
    }

    /** The value of the first sample of {@code name} whose labels contain {@code label}; NaN when there is none. */
    private static double metric(String body, String name, String label) {
        for (String line : body.split("\n")) {
            if (line.startsWith(name + "{") && line.contains(label)) {
                try {
                    return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                } catch (NumberFormatException e) {
                    return Double.NaN;
                }
            }
        }
        return Double.NaN;
    }

    private static void requireAlive(Worker w) {
        if (!w.process.isAlive()) {
            throw new IllegalStateException("a worker died on its own (exit " + w.process.exitValue() + "); see "
                    + w.log.getParent());
        }
    }

    private static double now() {
        return System.currentTimeMillis() / 1000.0;
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
