package forge.checkpoint;

import forge.storage.EmbeddedS3;
import forge.storage.LocalS3;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.storage.StorageUnavailableException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AsyncCheckpointWriterTest {
    @TempDir
    Path dataDir;

    private static List<CheckpointFile> files(long step) {
        return List.of(new CheckpointFile("model.safetensors", new byte[]{(byte) step, 1, 2}),
                new CheckpointFile("state.json", ("{\"step\":" + step + "}").getBytes()));
    }

    private static List<CheckpointFile> slowly(long step, long millis) throws InterruptedException {
        Thread.sleep(millis);
        return files(step);
    }

    @Test
    void submitReturnsWhileUploadRunsAndSubmitsSerialize() {
        try (EmbeddedS3 server = LocalS3.start(dataDir);
             S3Storage s3 = new S3Storage(server.settings("async"), LocalS3.testOptions())) {
            CheckpointStore store = new CheckpointStore(s3, s3.settings().stageRoot("run", "sft"), 2);
            List<Committed> seen = new CopyOnWriteArrayList<>();
            try (AsyncCheckpointWriter writer = new AsyncCheckpointWriter(store, seen::add)) {
                long t0 = System.nanoTime();
                writer.submit(CheckpointStore.stepDir(100), 100, () -> slowly(100, 600));
                Duration first = Duration.ofNanos(System.nanoTime() - t0);
                assertTrue(first.toMillis() < 300, "first submit blocked " + first);
                assertTrue(writer.lastCommitted().isEmpty(), "upload still running");
                assertTrue(writer.lastSubmitBlockedNanos() < Duration.ofMillis(300).toNanos());

                writer.submit(CheckpointStore.stepDir(200), 200, () -> slowly(200, 50));
                assertTrue(writer.lastSubmitBlockedNanos() > Duration.ofMillis(300).toNanos(),
                        "second submit waits for the first: " + writer.lastSubmitBlockedNanos() / 1e6 + " ms");
                assertEquals(100, writer.lastCommitted().orElseThrow().step(), "first done before second starts");

                assertTrue(writer.awaitIdle().isEmpty());
                Committed last = writer.lastCommitted().orElseThrow();
                assertEquals(200, last.step());
                assertEquals(store.stageRoot().resolve("step-000000200-e000001"), last.uri());
                assertEquals(3 + "{\"step\":200}".length(), last.bytes());
                assertTrue(last.seconds() > 0);
                assertEquals(List.of(100L, 200L), seen.stream().map(Committed::step).toList());
                assertEquals(2, writer.commits());
            }
            assertEquals(200, store.latest().orElseThrow().step());
        }
    }

    @Test
    void failedUploadLeavesPreviousCommitNewestValid() {
        EmbeddedS3 server = LocalS3.start(dataDir);
        int port = server.endpoint().getPort();
        S3Settings settings = server.settings("async");
        try (S3Storage s3 = new S3Storage(settings, LocalS3.testOptions())) {
            CheckpointStore store = new CheckpointStore(s3, settings.stageRoot("run", "pretrain"), 2);
            java.util.List<Long> failedSteps = new java.util.concurrent.CopyOnWriteArrayList<>();
            try (AsyncCheckpointWriter writer = new AsyncCheckpointWriter(store, c -> { },
                    f -> failedSteps.add(f.step()))) {
                writer.submit(CheckpointStore.stepDir(100), 100, () -> files(100));
                assertTrue(writer.awaitIdle().isEmpty());

                // The endpoint goes away while the next checkpoint is being built.
                writer.submit(CheckpointStore.stepDir(200), 200, () -> {
                    server.close();
                    return files(200);
                });
                FailedCheckpoint failure = writer.awaitIdle().orElseThrow();
                assertEquals(200, failure.step());
                assertInstanceOf(StorageUnavailableException.class, failure.cause());
                assertTrue(failure.describe().contains("step-000000200"), failure.describe());
                assertEquals(1, writer.failures());
                assertEquals(100, writer.lastCommitted().orElseThrow().step());

                // A failing build is a failure too, and never reaches storage.
                writer.submit(CheckpointStore.stepDir(300), 300, () -> {
                    throw new IllegalStateException("tensor copy failed");
                });
                assertEquals("tensor copy failed", writer.awaitIdle().orElseThrow().cause().getMessage());
                assertEquals(2, writer.failures());
                assertEquals(java.util.List.of(200L, 300L), failedSteps, "each failure is reported, e.g. to a metric");
            }

            // Same directory, same port: data survived the restart and step 100 is still the newest valid one.
            try (EmbeddedS3 again = EmbeddedS3.start(dataDir, "127.0.0.1", port, LocalS3.BUCKET,
                    LocalS3.ACCESS_KEY, LocalS3.SECRET_KEY)) {
                LoadedCheckpoint latest = store.latest().orElseThrow();
                assertEquals(100, latest.step());
                assertArrayEquals(files(100).get(0).content(), latest.file("model.safetensors"));

                try (AsyncCheckpointWriter writer = new AsyncCheckpointWriter(store)) {
                    writer.submit(CheckpointStore.stepDir(300), 300, () -> files(300));
                    assertTrue(writer.awaitIdle().isEmpty(), "a later success supersedes older failures");
                    writer.close();
                    assertThrows(IllegalStateException.class,
                            () -> writer.submit(CheckpointStore.stepDir(400), 400, () -> files(400)));
                }
                assertEquals(300, store.latest().orElseThrow().step());
            }
        }
    }
}
