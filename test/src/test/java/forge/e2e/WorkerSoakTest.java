package forge.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import forge.worker.Role;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineState;
import forge.workflow.TaskQueues;
import forge.workflow.TrainingPipeline;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowOptions;
import io.temporal.client.WorkflowStub;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Leaks that only show over hours: a GPU worker process trains back-to-back tiny pretraining runs, checkpointing
 * every few steps, and is SIGKILLed and replaced every few minutes (its run resumes on the replacement). Its resident
 * memory (/proc/PID/status VmRSS), open file descriptors (/proc/PID/fd) and threads are sampled throughout; after a
 * warm-up, a linear fit's slope over each worker's lifetime must stay under a bound (RSS only over windows of 2
 * minutes or more). Not part of {@code mvn verify}: it runs only when given a duration, e.g.
 * {@code cd test && mvn -B -o test -Dtest=WorkerSoakTest -Dforge.soakMinutes=120}.
 *
 * <p>Tunable: {@code forge.soakRestartMinutes} (default a quarter of the soak, 1 to 15),
 * {@code forge.soakWarmupMinutes} (default half a worker's lifetime, at most 3), {@code forge.soakSampleSeconds} (5),
 * {@code forge.soakMaxRssMbPerMinute} (4; a healthy worker drifts about 1.5 MB/min in minutes 3 to 10 of its life)
 * and {@code forge.soakMaxFdsPerMinute} (1, for threads too: both are flat once a worker is up).
 */
@Tag("soak")
@EnabledIfSystemProperty(named = "forge.soakMinutes", matches = "[0-9]+(\\.[0-9]+)?")
class WorkerSoakTest {
    /** About 10 s a run on 2 cores: each worker lifetime starts, checkpoints and finishes many stages. */
    private static final int RUN_STEPS = 600;
    private static final int CHECKPOINT_EVERY = 20;
    private static final double MIN_RSS_WINDOW_MINUTES = 2;

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    private record Sample(double minute, int worker, long pid, double rssMb, long fds, long threads, String run,
                          long step) {}

    @Test
    void workerMemoryAndFileHandlesStayBounded() throws Exception {
        double minutes = Double.parseDouble(System.getProperty("forge.soakMinutes"));
        double restartMinutes = doubleProperty("forge.soakRestartMinutes", Math.min(15, Math.max(1, minutes / 4)));
        double warmupMinutes = doubleProperty("forge.soakWarmupMinutes", Math.min(3, restartMinutes / 2));
        long sampleMillis = (long) (doubleProperty("forge.soakSampleSeconds", 5) * 1000);
        double maxRssSlope = doubleProperty("forge.soakMaxRssMbPerMinute", 4);
        double maxFdSlope = doubleProperty("forge.soakMaxFdsPerMinute", 1);
        System.out.printf("WorkerSoakTest: %.1f min, worker SIGKILLed and replaced every %.1f min, warm-up %.1f min,"
                        + " sample every %d ms; bounds: RSS %.1f MB/min, fds and threads %.1f/min%n", minutes,
                restartMinutes, warmupMinutes, sampleMillis, maxRssSlope, maxFdSlope);

        List<Sample> samples = new ArrayList<>();
        int completedRuns = 0;
        int killedMidRun = 0;
        double resumes = 0;
        try (TestStack stack = new TestStack(dir)) {
            stack.inProcessWorker(Role.CONTROL);
            var spec = TestStack.tinySpec(RUN_STEPS, CHECKPOINT_EVERY);
            TestStack.pretrain(spec).put("cache", false); // a cache hit would train nothing

            long start = System.nanoTime();
            long end = start + (long) (minutes * 60e9);
            long restartNanos = (long) (restartMinutes * 60e9);
            int workerNo = 0;
            Path log = workerLog(workerNo);
            Process worker = startWorker(stack, log);
            long nextRestart = start + restartNanos;
            int runNo = 0;
            String runId = "soak-" + runNo;
            CompletableFuture<PipelineResult> result = startRun(stack, runId, spec, minutes);

            // Printed as it goes: a soak that dies after an hour still leaves its numbers.
            System.out.println(" minute  worker      pid   rss MB   fds  threads  run        step");
            while (System.nanoTime() < end) {
                assertTrue(worker.isAlive(), "worker " + workerNo + " died on its own: " + read(log));
                if (result.isDone()) {
                    PipelineResult r = result.join();
                    assertEquals(PipelineState.COMPLETED, r.state(), runId + ": " + r.error() + " " + read(log));
                    completedRuns++;
                    resumes += r.stages().get("pretrain").metrics().get("resumes");
                    // Hours of runs would otherwise fill the disk under the embedded S3.
                    stack.storage.deleteAll(stack.s3.runRoot(runId));
                    runId = "soak-" + ++runNo;
                    result = startRun(stack, runId, spec, minutes);
                }
                long now = System.nanoTime();
                boolean training = Progress.heartbeatStep(stack.client, runId) > 0;
                // Held back while no stage is training (between runs, or a stage still loading), so that the kill
                // makes a stage resume; not for long, in case training never gets going again.
                if (now >= nextRestart && (training || now >= nextRestart + TimeUnit.MINUTES.toNanos(1))) {
                    worker.destroyForcibly(); // SIGKILL: whatever it leaked dies with it, the run must not
                    assertTrue(worker.waitFor(30, TimeUnit.SECONDS));
                    killedMidRun += training ? 1 : 0;
                    log = workerLog(++workerNo);
                    worker = startWorker(stack, log);
                    nextRestart += restartNanos;
                }
                Optional<Sample> s = sample(worker, workerNo, (System.nanoTime() - start) / 60e9, runId,
                        Progress.heartbeatStep(stack.client, runId));
                s.ifPresent(x -> System.out.printf("%7.2f  %6d  %7d  %7.1f  %4d  %7d  %-9s  %5d%n", x.minute(),
                        x.worker(), x.pid(), x.rssMb(), x.fds(), x.threads(), x.run(), x.step()));
                s.ifPresent(samples::add);
                Thread.sleep(sampleMillis);
            }
            worker.destroyForcibly();
            worker.waitFor(30, TimeUnit.SECONDS);
            if (!result.isDone()) {
                stack.client.newUntypedWorkflowStub(runId).terminate("soak over");
            }
        }

        System.out.printf("%d runs completed, %d restarts killed a running stage, %.0f resumes%n", completedRuns,
                killedMidRun, resumes);
        System.out.println("slopes per worker lifetime after its warm-up (Theil-Sen linear fit):");
        System.out.println("worker  samples  minutes  RSS MB/min  fds/min  threads/min  RSS first..last MB");
        List<String> failures = new ArrayList<>();
        int judged = 0;
        int rssJudged = 0;
        int workers = samples.stream().mapToInt(Sample::worker).max().orElse(-1) + 1;
        for (int w = 0; w < workers; w++) {
            int worker = w;
            List<Sample> all = samples.stream().filter(x -> x.worker() == worker).toList();
            if (all.isEmpty()) {
                continue;
            }
            // The JIT, metaspace and the native allocators behind libtorch grow to a plateau first (about 3 minutes
            // on 2 cores, measured); only growth after that counts.
            List<Sample> steady = all.stream().filter(x -> x.minute() - all.get(0).minute() >= warmupMinutes)
                    .toList();
            if (steady.size() < 5) {
                System.out.printf("%6d  %7d  (too few samples after warm-up to judge)%n", w, steady.size());
                continue;
            }
            judged++;
            double span = steady.get(steady.size() - 1).minute() - steady.get(0).minute();
            double rss = slope(steady, Sample::rssMb);
            double fds = slope(steady, x -> x.fds());
            double threads = slope(steady, x -> x.threads());
            // RSS moves in steps of a few MB (an arena, a batch of compiled code); over a short window one step
            // reads as a steep slope, so it is judged only over a long enough one.
            boolean judgeRss = span >= MIN_RSS_WINDOW_MINUTES;
            System.out.printf("%6d  %7d  %7.1f  %10.2f%s  %7.2f  %11.2f  %.1f..%.1f%n", w, steady.size(), span, rss,
                    judgeRss ? " " : "*", fds, threads, steady.get(0).rssMb(), steady.get(steady.size() - 1).rssMb());
            if (judgeRss) {
                rssJudged++;
                if (rss > maxRssSlope) {
                    failures.add("worker " + w + ": RSS grows " + String.format("%.2f", rss) + " MB/min");
                }
            }
            if (fds > maxFdSlope) {
                failures.add("worker " + w + ": open files grow " + String.format("%.2f", fds) + "/min");
            }
            if (threads > maxFdSlope) {
                failures.add("worker " + w + ": threads grow " + String.format("%.2f", threads) + "/min");
            }
        }
        if (rssJudged == 0) {
            System.out.printf("* RSS not judged: no lifetime had %.0f minutes after its warm-up; soak longer, or set"
                    + " forge.soakRestartMinutes above %.0f%n", MIN_RSS_WINDOW_MINUTES,
                    warmupMinutes + MIN_RSS_WINDOW_MINUTES);
        }
        assertTrue(completedRuns > 0, "no run completed during the soak");
        assertTrue(judged > 0, "no worker lived past its warm-up long enough to judge; soak longer");
        assertTrue(failures.isEmpty(), String.join("; ", failures));
    }

    /**
     * The heap is made resident up front (Xms = Xmx, pre-touched): otherwise G1 grows it towards -Xmx in steps for
     * minutes, which a slope cannot tell from a leak. So what can still grow is native memory (libtorch's tensors,
     * thread stacks, direct buffers, metaspace), where this worker's leaks would be; a leak on the heap ends in an
     * OutOfMemoryError instead, which fails the run or kills the worker.
     */
    private static Process startWorker(TestStack stack, Path log) {
        return stack.externalWorker(Role.GPU, log, stack.dev.temporalAddress(),
                Map.of("JAVA_TOOL_OPTIONS", "-Xms1g -XX:+AlwaysPreTouch"));
    }

    private Path workerLog(int n) {
        return dir.resolve("worker-" + n + ".log");
    }

    /** Outlives the 10-minute bound TestStack.start gives a run: a run here can be starved by restarts. */
    private static CompletableFuture<PipelineResult> startRun(TestStack stack, String runId, JsonNode spec,
                                                              double minutes) {
        TrainingPipeline pipeline = stack.client.newWorkflowStub(TrainingPipeline.class, WorkflowOptions.newBuilder()
                .setWorkflowId(runId).setTaskQueue(TaskQueues.CONTROL)
                .setWorkflowExecutionTimeout(Duration.ofMinutes((long) minutes + 30)).build());
        WorkflowClient.start(pipeline::run, spec, null);
        WorkflowStub stub = stack.client.newUntypedWorkflowStub(runId);
        return stub.getResultAsync(PipelineResult.class);
    }

    /** Empty if the process went away between the check and the read. */
    private static Optional<Sample> sample(Process p, int worker, double minute, String run, long step) {
        Path proc = Path.of("/proc", Long.toString(p.pid()));
        try {
            double rssKb = -1;
            long threads = -1;
            for (String line : Files.readAllLines(proc.resolve("status"))) {
                if (line.startsWith("VmRSS:")) {
                    rssKb = Double.parseDouble(line.replaceAll("[^0-9]", ""));
                } else if (line.startsWith("Threads:")) {
                    threads = Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
            long fds;
            try (Stream<Path> s = Files.list(proc.resolve("fd"))) {
                fds = s.count();
            }
            return Optional.of(new Sample(minute, worker, p.pid(), rssKb / 1024, fds, threads, run, step));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * Theil-Sen: the median of the slopes between every pair of samples, per minute. A least-squares line is tilted by
     * a GC that returns memory or a stage's thread that comes and goes between samples; the median is not, while a
     * steady climb still shows as one.
     */
    private static double slope(List<Sample> samples, ToDoubleFunction<Sample> y) {
        List<Double> slopes = new ArrayList<>();
        for (int i = 0; i < samples.size(); i++) {
            for (int j = i + 1; j < samples.size(); j++) {
                double dx = samples.get(j).minute() - samples.get(i).minute();
                if (dx > 0) {
                    slopes.add((y.applyAsDouble(samples.get(j)) - y.applyAsDouble(samples.get(i))) / dx);
                }
            }
        }
        if (slopes.isEmpty()) {
            return 0;
        }
        slopes.sort(null);
        int n = slopes.size();
        return n % 2 == 1 ? slopes.get(n / 2) : (slopes.get(n / 2 - 1) + slopes.get(n / 2)) / 2;
    }

    private static double doubleProperty(String name, double fallback) {
        String v = System.getProperty(name);
        return v == null || v.isBlank() ? fallback : Double.parseDouble(v);
    }

    private static String read(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "(no log)";
        } catch (IOException e) {
            return e.toString();
        }
    }
}
