package forge.checkpoint;

import forge.storage.EmbeddedS3;
import forge.storage.FaultyS3Proxy;
import forge.storage.LocalS3;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two attempts of one stage against one stage root, on a real S3Proxy: the older is fenced out the moment the newer
 * claims the stage (docs/fencing.md).
 */
class FencingTest {
    @TempDir
    static Path dataDir;
    static EmbeddedS3 server;
    static S3Storage s3;

    @BeforeAll
    static void start() {
        server = LocalS3.start(dataDir);
        s3 = new S3Storage(server.settings("fence"), LocalS3.testOptions());
    }

    @AfterAll
    static void stop() {
        s3.close();
        server.close();
    }

    private static S3Uri root(TestInfo info) {
        return s3.settings().stageRoot(info.getTestMethod().orElseThrow().getName(), "pretrain");
    }

    private static List<CheckpointFile> files(long step, int seed) {
        byte[] model = new byte[2048];
        new Random(step * 31 + seed).nextBytes(model);
        return List.of(new CheckpointFile("model.safetensors", model),
                new CheckpointFile("state.json", ("{\"step\":" + step + "}").getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void aReplacedAttemptCannotCommitAndWhatItWroteLateIsNeverLoaded(TestInfo info) {
        S3Uri root = root(info);
        CheckpointStore older = new CheckpointStore(s3, root, 3);
        assertTrue(older.resume().isEmpty());
        older.commit(CheckpointStore.stepDir(10), files(10, 1));
        older.commit(CheckpointStore.stepDir(20), files(20, 1));

        CheckpointStore newer = new CheckpointStore(s3, root, 3);
        assertEquals(20, newer.resume().orElseThrow().step());
        assertEquals(2, newer.epoch());

        AttemptReplacedException e = assertThrows(AttemptReplacedException.class,
                () -> older.commit(CheckpointStore.stepDir(30), files(30, 1)));
        assertTrue(e.getMessage().contains("replaced by epoch 2") && e.getMessage().contains("step-000000020-e000001"),
                e.getMessage());
        assertTrue(older.replaced());
        assertThrows(AttemptReplacedException.class, () -> older.commit(CheckpointStore.FINAL, files(99, 1)));
        assertEquals(List.of("step-000000020-e000001", "step-000000010-e000001"), newer.stepDirs(),
                "refused before the first byte: nothing of step 30 was uploaded");
        assertTrue(s3.list(root.resolve(CheckpointStore.FINAL)).isEmpty());

        // What a replaced attempt may still get in (a write that was already on the wire): a whole, valid checkpoint
        // beyond the step its successor resumed from. Nobody loads it, and the successor's retention removes it.
        S3Uri late = root.resolve(CheckpointNames.stepDir(40, 1));
        List<CheckpointFile> lateFiles = files(40, 1);
        lateFiles.forEach(f -> s3.put(late.resolve(f.name()), f.content()));
        s3.put(late.resolve(Manifest.FILE_NAME), Manifest.describe(late.name(), lateFiles, 1, "old", java.util.Map.of())
                .toJson());
        assertTrue(newer.load(late).isPresent(), "it verifies");
        assertEquals(20, newer.latest().orElseThrow().step(), "but epoch 2 resumed from 20 without it");
        assertEquals(20, new CheckpointStore(s3, root, 3).resume().orElseThrow().step(),
                "and neither does a third attempt");

        // A user's init_from that names a step without its epoch gets that step's newest loadable checkpoint.
        assertEquals("step-000000020-e000001", newer.loadRequired(root.resolve("step-000000020")).uri().name());
        forge.errors.BadInputException superseded = assertThrows(forge.errors.BadInputException.class,
                () -> newer.loadRequired(root.resolve("step-000000040")));
        assertTrue(superseded.getMessage().contains("step-000000040 is missing"), superseded.getMessage());
    }

    @Test
    void retentionDeletesOnlyWhatThisAttemptMayDelete(TestInfo info) {
        S3Uri root = root(info);
        CheckpointStore first = new CheckpointStore(s3, root, 2);
        first.resume();
        first.commit(CheckpointStore.stepDir(10), files(10, 1));
        first.commit(CheckpointStore.stepDir(20), files(20, 1));
        CheckpointStore second = new CheckpointStore(s3, root, 2);
        second.resume();
        // epoch 1's late write, beyond the step epoch 2 resumed from
        S3Uri late = root.resolve(CheckpointNames.stepDir(25, 1));
        s3.put(late.resolve("model.safetensors"), new byte[]{1});
        second.commit(CheckpointStore.stepDir(30), files(30, 2));
        assertEquals(List.of("step-000000030-e000002", "step-000000020-e000001"), second.stepDirs(),
                "epoch 1's step 10 is beyond keep_last, its step 25 superseded");

        // Epoch 3 claims and commits; epoch 2 is now a replaced attempt. Its next commit is refused outright, and
        // even retention run late (a claim that landed between its last lease check and its retention) deletes
        // nothing of epoch 3's, though keep_last is 2 and it sees two newer valid checkpoints.
        CheckpointStore third = new CheckpointStore(s3, root, 2);
        assertEquals(30, third.resume().orElseThrow().step());
        third.commit(CheckpointStore.stepDir(40), files(40, 3));
        third.commit(CheckpointStore.stepDir(50), files(50, 3));
        assertThrows(AttemptReplacedException.class, () -> second.commit(CheckpointStore.stepDir(60), files(60, 2)));
        second.applyRetention(60, 2);
        assertEquals(List.of("step-000000050-e000003", "step-000000040-e000003"), third.stepDirs());
        assertEquals(50, third.latest().orElseThrow().step());
    }

    /**
     * The race conditional writes close: the older attempt has checked its lease and its write of {@code final/} is
     * on its way (held back by the proxy, as by a long GC pause) when the newer attempt claims the stage and writes
     * {@code final/} itself. The late write arrives after the newer one's: S3 refuses it, the older attempt learns it
     * was replaced, and {@code final/} is the newer attempt's, whole.
     */
    @Test
    void aLateFinalFromAReplacedAttemptLosesToItsSuccessors(TestInfo info) throws Exception {
        S3Uri root = root(info);
        try (FaultyS3Proxy proxy = FaultyS3Proxy.start(server.endpoint(), 1, FaultyS3Proxy.Rates.NONE,
                Duration.ofSeconds(1));
             S3Storage slow = new S3Storage(S3Settings.local(proxy.endpoint(), server.bucket(), "fence"),
                     LocalS3.testOptions())) {
            CheckpointStore older = new CheckpointStore(slow, root, 2);
            older.resume();
            older.commit(CheckpointStore.stepDir(10), files(10, 1));
            proxy.delay("PUT", Pattern.compile("/final/model\\.safetensors$"), Duration.ofSeconds(3), 1);
            CompletableFuture<S3Uri> olderFinal = CompletableFuture.supplyAsync(
                    () -> older.commit(CheckpointStore.FINAL, files(99, 1)));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (proxy.delaysPending() > 0) {
                assertTrue(System.nanoTime() < deadline, "the older attempt's final/ never started");
                Thread.sleep(10);
            }

            CheckpointStore newer = new CheckpointStore(s3, root, 2);
            assertEquals(10, newer.resume().orElseThrow().step());
            List<CheckpointFile> mine = files(99, 2);
            newer.commit(CheckpointStore.FINAL, mine);
            assertFalse(olderFinal.isDone(), "the newer final/ was written while the older write was held");

            ExecutionException e = assertThrows(ExecutionException.class, () -> olderFinal.get(20, TimeUnit.SECONDS));
            assertInstanceOf(AttemptReplacedException.class, e.getCause());
            LoadedCheckpoint fin = newer.loadFinal().orElseThrow();
            assertEquals(2, fin.epoch());
            assertArrayEquals(mine.get(0).content(), fin.file("model.safetensors"));
            assertArrayEquals(mine.get(1).content(), fin.file("state.json"));
        }
    }

    /**
     * An endpoint that ignores conditional writes: the lease is checked before every object of final/, and two
     * claims of one epoch (neither refused) are told apart by token, so the one whose record was overwritten stops.
     */
    @Test
    void withoutConditionalWritesReadAfterWriteChecksStillFence(TestInfo info) {
        S3Uri root = root(info);
        try (S3Storage plain = new S3Storage(s3.settings(), LocalS3.testOptions().withConditionalWrites(false))) {
            CheckpointStore a = new CheckpointStore(plain, root, 2);
            a.resume();
            a.commit(CheckpointStore.stepDir(10), files(10, 1));
            // A claim of the same epoch that the endpoint did not refuse: it overwrote a's record.
            S3Uri record = root.resolve(CheckpointNames.EPOCHS).resolve(EpochRecord.fileName(1));
            s3.put(record, new EpochRecord(1, "someone-else", "another worker", 10, "step-000000010-e000001",
                    "now").toJson());
            AttemptReplacedException e = assertThrows(AttemptReplacedException.class,
                    () -> a.commit(CheckpointStore.FINAL, files(99, 1)));
            assertTrue(e.getMessage().contains("another worker"), e.getMessage());
            assertTrue(s3.list(root.resolve(CheckpointStore.FINAL)).isEmpty(), "checked before the first object");

            CheckpointStore b = new CheckpointStore(plain, root, 2);
            assertEquals(10, b.resume().orElseThrow().step());
            assertEquals(2, b.epoch());
            b.commit(CheckpointStore.FINAL, files(99, 2));
            assertEquals(2, b.loadFinal().orElseThrow().epoch());
        }
    }

    /** A final/ that a replaced attempt got in is not the stage's output for an attempt that trained again. */
    @Test
    void aFinalWrittenByAReplacedAttemptIsNotTheStagesOutput(TestInfo info) {
        S3Uri root = root(info);
        CheckpointStore a = new CheckpointStore(s3, root, 2);
        a.resume();
        a.commit(CheckpointStore.stepDir(10), files(10, 1));
        CheckpointStore b = new CheckpointStore(s3, root, 2);
        b.resume();
        // a's final/ landed after b had claimed the stage (as in the race above, on an endpoint without conditions)
        List<CheckpointFile> late = files(99, 1);
        late.forEach(f -> s3.put(root.resolve("final").resolve(f.name()), f.content()));
        s3.put(root.resolve("final").resolve(Manifest.FILE_NAME),
                Manifest.describe("final", late, 1, "a", java.util.Map.of()).toJson());
        assertTrue(b.loadFinal().isEmpty(), "epoch 2 started training again without seeing it");
        b.commit(CheckpointStore.FINAL, files(99, 2));
        assertEquals(2, b.loadFinal().orElseThrow().epoch());
        // A later attempt that finds a final/ it may use records that it resumed from it.
        CheckpointStore c = new CheckpointStore(s3, root, 2);
        c.resume();
        assertTrue(c.loadFinal().isPresent(), "epoch 3 resumed from final/, so it does not supersede it");
    }
}
