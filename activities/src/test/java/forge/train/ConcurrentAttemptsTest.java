package forge.train;

import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.pretrain.PretrainStageTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.Manifest;
import forge.storage.EmbeddedS3;
import forge.storage.LocalS3;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A worker Temporal gave up on that is still alive: two attempts of one pretraining stage train at the same time,
 * against the same stage root on a real S3Proxy — the older in a process of its own ({@link OlderAttempt}), the
 * newer in this one (one training stage per process, see {@code ForgeWorkers.requireOneSlot}). The newer attempt's
 * claim fences the older out: its commits are refused and it stops itself; nothing the newer one wrote is deleted;
 * {@code final/} is never seen torn; and the result is bit for bit an uninterrupted run's.
 */
class ConcurrentAttemptsTest {
    private static final int MAX_STEPS = 60;

    @TempDir
    Path dir;

    /** Dropout and gradient accumulation on, so that the bytes only match if the resume is exact. */
    static JsonNode spec(int maxSteps) {
        try {
            return new ObjectMapper(new YAMLFactory()).readTree("""
                    seed: 9
                    model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32, dropout: 0.1}
                    tokenizer: {type: char}
                    data: {sources: [{path: "demo:pretrain?seed=3&docs=400"}]}
                    train: {max_steps: %d, batch_size: 4, grad_accum_steps: 2, warmup_steps: 5}
                    eval: {interval: 1000, batches: 2}
                    checkpoint: {interval_steps: 10, interval_seconds: 3600, keep_last: 50}
                    sample: {count: 0}
                    """.formatted(maxSteps));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void twoAttemptsAtOnceEndLikeOneUninterruptedRun() throws Exception {
        try (EmbeddedS3 s3 = LocalS3.start(dir.resolve("s3"));
             S3Storage storage = new S3Storage(s3.settings("runs"), LocalS3.testOptions())) {
            PretrainConfig cfg = PretrainConfig.parse(spec(MAX_STEPS));
            CheckpointStore straight = new CheckpointStore(storage, s3.settings("runs").stageRoot("straight", "pretrain"), 50);
            new PretrainStage(cfg, straight, storage, PretrainStageTest.metrics(), null).run(StageControl.NONE);

            S3Uri root = s3.settings("runs").stageRoot("twice", "pretrain");
            CheckpointStore observer = new CheckpointStore(storage, root, 50);
            Path olderLog = dir.resolve("older.log");
            Process older = startOlder(s3, "twice", olderLog);
            // final/ must never be seen torn: watched from the first step to the last.
            AtomicBoolean watching = new AtomicBoolean(true);
            AtomicReference<String> torn = new AtomicReference<>();
            AtomicInteger finalSeen = new AtomicInteger();
            Thread watcher = new Thread(() -> {
                S3Uri fin = root.resolve(CheckpointStore.FINAL);
                while (watching.get() && torn.get() == null) {
                    if (storage.exists(fin.resolve(Manifest.FILE_NAME))) {
                        finalSeen.incrementAndGet();
                        if (observer.load(fin).isEmpty()) {
                            torn.set("final/ has a manifest but does not verify");
                        }
                    }
                    sleep(20);
                }
            }, "final-watcher");
            watcher.start();
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                S3Uri step20 = root.resolve("step-000000020-e000001");
                while (!storage.exists(step20.resolve(Manifest.FILE_NAME))) {
                    assertTrue(older.isAlive(), "the older attempt ended before step 20: " + read(olderLog));
                    assertTrue(System.nanoTime() < deadline, "the older attempt never reached step 20");
                    sleep(20);
                }

                // The newer attempt: everything it commits is recorded, to check at the end that all of it is there.
                Set<String> newerCommits = ConcurrentHashMap.newKeySet();
                StageControl recording = new StageControl() {
                    @Override
                    public void progress(TrainingProgress p) {}

                    @Override
                    public void milestone(TrainingProgress p) {
                        if (p.checkpoint() != null) {
                            newerCommits.add(p.checkpoint());
                        }
                    }

                    @Override
                    public boolean stopRequested() {
                        return false;
                    }
                };
                CheckpointStore newerStore = new CheckpointStore(storage, root, 50);
                StageOutcome newer = new PretrainStage(cfg, newerStore, storage, PretrainStageTest.metrics(), null)
                        .run(recording);
                assertTrue(newer.completed());
                assertEquals(2, newerStore.epoch());

                assertTrue(older.waitFor(60, TimeUnit.SECONDS), "the older attempt never stopped");
                String olderOut = read(olderLog);
                assertEquals(OlderAttempt.REPLACED, older.exitValue(), "the older attempt must stop itself: " + olderOut);
                assertTrue(olderOut.contains("was replaced by epoch 2"), olderOut);

                // The newer attempt has just written final/: give the watcher a look at it before stopping it.
                long seenBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (finalSeen.get() == 0 && torn.get() == null && System.nanoTime() < seenBy) {
                    sleep(20);
                }
                watching.set(false);
                watcher.join();
                assertNull(torn.get());
                assertTrue(finalSeen.get() > 0, "the watcher saw final/ at least once");

                LoadedCheckpoint expected = straight.loadFinal().orElseThrow();
                LoadedCheckpoint got = observer.loadFinal().orElseThrow();
                assertEquals(2, got.epoch(), "final/ is the newer attempt's");
                assertArrayEquals(expected.file("model.safetensors"), got.file("model.safetensors"));
                assertArrayEquals(expected.file("optimizer.safetensors"), got.file("optimizer.safetensors"));

                List<String> missing = new ArrayList<>();
                for (String uri : newerCommits) {
                    if (observer.load(S3Uri.parse(uri)).isEmpty()) {
                        missing.add(uri);
                    }
                }
                assertTrue(newerCommits.size() >= 3, "the newer attempt committed checkpoints: " + newerCommits);
                assertTrue(missing.isEmpty(), "the older attempt deleted or damaged " + missing);
                // What the older attempt got in after the claim is gone (retention) or at least never loaded.
                long resumedAt = new ObjectMapper().readTree(storage.get(root.resolve("_epochs/epoch-000000002.json")))
                        .get("resumedFromStep").asLong();
                assertTrue(resumedAt >= 20, "the newer attempt resumed from the older one's newest checkpoint: " + resumedAt);
                for (String d : observer.stepDirs()) {
                    if (d.endsWith("-e000001")) {
                        long step = Long.parseLong(d.substring(5, 14));
                        assertTrue(step <= resumedAt, "a replaced attempt's " + d + " survived beyond step " + resumedAt);
                    }
                }
                assertTrue(observer.latest().orElseThrow().uri().name().endsWith("-e000002"));
            } finally {
                watching.set(false);
                older.destroyForcibly().waitFor();
            }
        }
    }

    private static Process startOlder(EmbeddedS3 s3, String run, Path log) throws IOException {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g",
                "-Daws.accessKeyId=" + s3.accessKey(), "-Daws.secretAccessKey=" + s3.secretKey(),
                "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                OlderAttempt.class.getName(), s3.endpoint().toString(), s3.bucket(), "runs", run,
                String.valueOf(MAX_STEPS));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static String read(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "(no output)";
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
