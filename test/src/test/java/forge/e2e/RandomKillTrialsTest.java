package forge.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.storage.S3Uri;
import forge.worker.Role;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineState;
import io.temporal.client.WorkflowStub;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGKILLs a pretraining worker at moments drawn from a seeded RNG, N times, and requires every recovered run's final
 * weights and optimizer state to equal one uninterrupted run's, byte for byte. The moments rotate through three kinds:
 * mid-step (no checkpoint being written), during a checkpoint's upload (some files stored, no manifest), and between
 * the last file and the manifest (every file stored, no manifest). The last two are windows of milliseconds in
 * production; the victim worker is started with the CheckpointStore test hook (FORGE_TEST_PAUSE_*_MS) that holds the
 * commit there, and the kill lands while S3 shows the directory in that state.
 *
 * <p>{@code -Dforge.killTrials=N} (default 3, one of each kind) and {@code -Dforge.killSeed=S} (default: fresh, and
 * printed). A seed replays the plan (kinds, which checkpoint, delays), not the scheduler's exact timing.
 */
class RandomKillTrialsTest {
    private static final int MAX_STEPS = 120;
    private static final int CHECKPOINT_EVERY = 10;
    /** Long enough to be seen by polling S3 on a busy 2-core machine; well under the 5 s heartbeat timeout. */
    private static final long HOOK_PAUSE_MS = 2_000;
    /**
     * A mid-step kill comes this long at most after a checkpoint commits: about a checkpoint interval's worth of steps
     * on a 2-core machine, and a small part of the stage anywhere, so the stage is still running.
     */
    private static final long MID_STEP_SPREAD_MS = 400;
    /** The files of a step checkpoint (TrainingLoop.stepFiles for pretraining), first to last. */
    private static final List<String> STEP_FILES = List.of("model.safetensors", "optimizer.safetensors",
            "tokenizer.json", "config.json", "state.json");
    private static final String MANIFEST = "MANIFEST.json";

    enum Kind { MID_STEP, DURING_UPLOAD, BEFORE_MANIFEST }

    /** Kept when the test fails: the worker logs in it say why. */
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    @Test
    void randomlyKilledWorkersResumeToTheUninterruptedBytes() throws Exception {
        int trials = Integer.getInteger("forge.killTrials", 3);
        long seed = Long.getLong("forge.killSeed", new SecureRandom().nextLong());
        System.out.printf("RandomKillTrialsTest: %d trials, seed %d (rerun with -Dforge.killSeed=%d)%n",
                trials, seed, seed);
        Random rng = new Random(seed);
        String replay = " [seed " + seed + "]";
        long testStart = System.nanoTime();

        try (TestStack stack = new TestStack(dir)) {
            stack.inProcessWorker(Role.CONTROL);
            var spec = TestStack.tinySpec(MAX_STEPS, CHECKPOINT_EVERY);
            TestStack.pretrain(spec).put("cache", false); // every trial must really train

            long t0 = System.nanoTime();
            Path baselineLog = dir.resolve("worker-baseline.log");
            Process baselineWorker = stack.externalWorker(Role.GPU, baselineLog);
            PipelineResult baseline = stack.start("baseline", spec).getResult(5, TimeUnit.MINUTES,
                    PipelineResult.class);
            assertEquals(PipelineState.COMPLETED, baseline.state(), log(baselineLog));
            stop(baselineWorker);
            LoadedCheckpoint expected = store(stack, "baseline").loadFinal().orElseThrow();
            System.out.printf("baseline: %d steps in %.1f s%n", MAX_STEPS, seconds(t0));

            // Consecutive trials never repeat a kind, so any 3 of them cover all three.
            int firstKind = rng.nextInt(Kind.values().length);
            List<String> rows = new ArrayList<>();
            Map<Kind, Integer> byKind = new EnumMap<>(Kind.class);
            for (int i = 0; i < trials; i++) {
                Kind kind = Kind.values()[(firstKind + i) % Kind.values().length];
                long start = System.nanoTime();
                Trial t = runTrial(stack, "trial-" + i, kind, rng, spec, replay);
                PipelineResult recovered = t.result();
                String where = "trial " + i + " (" + kind + ", " + t.moment() + ")" + replay;
                assertEquals(PipelineState.COMPLETED, recovered.state(), where + ": " + log(t.rescueLog()));
                LoadedCheckpoint actual = store(stack, "trial-" + i).loadFinal().orElseThrow();
                assertArrayEquals(expected.file("model.safetensors"), actual.file("model.safetensors"),
                        where + ": weights after kill -9 and resume must equal the uninterrupted run's");
                assertArrayEquals(expected.file("optimizer.safetensors"), actual.file("optimizer.safetensors"),
                        where + ": optimizer state");
                double resumes = recovered.stages().get("pretrain").metrics().get("resumes");
                // Resuming from the checkpoint that was valid at the kill, not from scratch (nor from a torn one).
                assertEquals(t.validAtKill() >= 0, resumes >= 1, where + ": resumes=" + resumes
                        + ", newest valid checkpoint at the kill: step " + t.validAtKill());
                byKind.merge(t.observed(), 1, Integer::sum);
                String row = String.format("%5d  %-15s  %-15s  %-32s  %-8s  %6.0f  %6.1f   %s", i, kind,
                        t.observed(), t.moment(), t.validAtKill() < 0 ? "none" : Long.toString(t.validAtKill()), resumes,
                        seconds(start), t.torn().equals("{}") ? "" : t.torn());
                System.out.println("trial done: " + row);
                rows.add(row);
            }

            System.out.printf("RandomKillTrialsTest: seed %d, %d trials in %.1f s, all bit-identical to the baseline%n",
                    seed, trials, seconds(testStart));
            System.out.println("trial  intended         observed         kill moment                       "
                    + "resumed  resumes   secs   torn at the kill");
            rows.forEach(System.out::println);
            System.out.println("trials by observed kind: " + byKind);
        }
    }

    /** @param observed what S3 showed after the kill; differs from the intended kind only where a mid-step kill hit
     *                 an upload (the race between the check and the kill) */
    private record Trial(PipelineResult result, String moment, Kind observed, String torn, long validAtKill,
                         Path rescueLog) {}

    private Trial runTrial(TestStack stack, String runId, Kind kind, Random rng, JsonNode spec, String replay)
            throws Exception {
        Map<String, String> hook = switch (kind) {
            case MID_STEP -> Map.of();
            case DURING_UPLOAD -> Map.of("FORGE_TEST_PAUSE_DURING_UPLOAD_MS", Long.toString(HOOK_PAUSE_MS));
            case BEFORE_MANIFEST -> Map.of("FORGE_TEST_PAUSE_BEFORE_MANIFEST_MS", Long.toString(HOOK_PAUSE_MS));
        };
        Path victimLog = dir.resolve("worker-" + runId + "-victim.log");
        Process victim = stack.externalWorker(Role.GPU, victimLog, stack.dev.temporalAddress(), hook);
        WorkflowStub run = stack.start(runId, spec);
        CheckpointStore store = store(stack, runId);
        S3Uri root = store.stageRoot();

        String moment;
        int nth = 1 + rng.nextInt(3);
        String stepDir = CheckpointStore.stepDir((long) nth * CHECKPOINT_EVERY);
        if (kind == Kind.MID_STEP) {
            // S3 shows a commit at once, where heartbeats lag by up to their interval: time the kill from the commit.
            long extraMs = rng.nextInt((int) MID_STEP_SPREAD_MS);
            // At or past it: retention may already have deleted the directory itself.
            waitUntil(victim, victimLog, runId + " committing " + stepDir, () -> layout(stack, root).entrySet()
                    .stream().anyMatch(d -> d.getKey().startsWith("step-") && d.getKey().compareTo(stepDir) >= 0
                            && d.getValue().contains(MANIFEST)));
            Thread.sleep(extraMs);
            // An unhooked upload takes milliseconds, yet a random moment falls into one now and then; that would be
            // the other kind, so wait the upload out. The check-to-kill race is counted below, not hidden.
            waitUntil(victim, victimLog, runId + " between uploads", () -> torn(layout(stack, root)).isEmpty());
            moment = stepDir + " committed +" + extraMs + "ms";
        } else {
            Predicate<Set<String>> inWindow = kind == Kind.DURING_UPLOAD
                    ? files -> !files.isEmpty() && !files.contains(MANIFEST) && !files.containsAll(STEP_FILES)
                    : files -> files.containsAll(STEP_FILES) && !files.contains(MANIFEST);
            waitUntil(victim, victimLog, runId + " pausing in " + stepDir + " (" + kind + ")", () -> {
                Set<String> files = layout(stack, root).getOrDefault(stepDir, Set.of());
                assertFalse(files.contains(MANIFEST), runId + ": missed the window, " + stepDir + " was committed"
                        + replay);
                return inWindow.test(files);
            });
            // Somewhere inside the hook's pause, not always at its start.
            long extraMs = rng.nextInt((int) (HOOK_PAUSE_MS / 4));
            Thread.sleep(extraMs);
            moment = stepDir + " paused +" + extraMs + "ms";
        }
        kill(victim);

        // What the kill left behind is what the replacement must cope with: check it is the kind intended.
        Map<String, Set<String>> after = layout(stack, root);
        assertFalse(after.containsKey(CheckpointStore.FINAL), runId + ": killed after the stage finished" + replay);
        Map<String, Set<String>> torn = torn(after);
        Kind observed = torn.isEmpty() ? Kind.MID_STEP
                : torn.size() == 1 && torn.values().iterator().next().containsAll(STEP_FILES) ? Kind.BEFORE_MANIFEST
                : Kind.DURING_UPLOAD;
        if (kind != Kind.MID_STEP) {
            assertEquals(1, torn.size(), runId + ": exactly the paused checkpoint is torn: " + torn + replay);
            assertEquals(kind, observed, runId + ": " + torn + replay);
        }
        long validAtKill = store.latest().map(LoadedCheckpoint::step).orElse(-1L);

        Path rescueLog = dir.resolve("worker-" + runId + "-rescue.log");
        Process rescue = stack.externalWorker(Role.GPU, rescueLog);
        PipelineResult result = run.getResult(5, TimeUnit.MINUTES, PipelineResult.class);
        stop(rescue);
        return new Trial(result, moment, observed, torn.toString(), validAtKill, rescueLog);
    }

    /** SIGKILL: no shutdown hook, no last heartbeat, no final checkpoint. */
    private static void kill(Process worker) throws InterruptedException {
        worker.destroyForcibly();
        assertTrue(worker.waitFor(30, TimeUnit.SECONDS));
        assertEquals(137, worker.exitValue(), "the worker must die by SIGKILL");
    }

    /** Its run is over, so there is nothing to checkpoint: no need to wait for a graceful shutdown. */
    private static void stop(Process worker) throws InterruptedException {
        worker.destroyForcibly();
        worker.waitFor(30, TimeUnit.SECONDS);
    }

    /**
     * Every checkpoint directory under the stage root with its files, from one LIST, so it is one moment's picture.
     * Only the victim writes before the kill, so its epoch suffix ({@code -e000001}, docs/fencing.md) is dropped and
     * a directory reads as {@code CheckpointStore.stepDir(n)}; the epoch records under {@code _epochs/} are no
     * checkpoint.
     */
    private static Map<String, Set<String>> layout(TestStack stack, S3Uri root) {
        Map<String, Set<String>> out = new TreeMap<>();
        for (String name : stack.storage.list(root)) {
            int slash = name.indexOf('/');
            if (slash > 0 && !name.startsWith("_")) {
                String dir = name.substring(0, slash).replaceFirst("-e\\d+$", "");
                out.computeIfAbsent(dir, d -> new TreeSet<>()).add(name.substring(slash + 1));
            }
        }
        return out;
    }

    private static Map<String, Set<String>> torn(Map<String, Set<String>> layout) {
        Map<String, Set<String>> out = new TreeMap<>(layout);
        out.values().removeIf(files -> files.contains(MANIFEST));
        return out;
    }

    private interface Condition {
        boolean holds() throws Exception;
    }

    private static void waitUntil(Process victim, Path log, String what, Condition c) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (!c.holds()) {
            assertTrue(victim.isAlive(), "worker died on its own while waiting for " + what + ": " + log(log));
            assertTrue(System.nanoTime() < deadline, "timed out waiting for " + what + ": " + log(log));
            Thread.sleep(20);
        }
    }

    private static CheckpointStore store(TestStack stack, String run) {
        return new CheckpointStore(stack.storage, stack.s3.stageRoot(run, "pretrain"), 2);
    }

    private static double seconds(long since) {
        return (System.nanoTime() - since) / 1e9;
    }

    private static String log(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "(no log)";
        } catch (Exception e) {
            return "(unreadable log: " + e + ")";
        }
    }
}
