package forge.checkpoint;

import forge.errors.BadInputException;
import forge.storage.EmbeddedS3;
import forge.storage.LocalS3;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointStoreTest {
    @TempDir
    static Path dataDir;
    static EmbeddedS3 server;
    static S3Storage s3;

    @BeforeAll
    static void start() {
        server = LocalS3.start(dataDir);
        s3 = new S3Storage(server.settings("ckpt"), LocalS3.testOptions());
    }

    @AfterAll
    static void stop() {
        s3.close();
        server.close();
    }

    /** Each test gets its own run id, so stage roots never overlap. */
    private static CheckpointStore store(TestInfo info, int keepLast) {
        String run = info.getTestMethod().orElseThrow().getName();
        return new CheckpointStore(s3, s3.settings().stageRoot(run, "pretrain"), keepLast);
    }

    private static List<CheckpointFile> files(long step) {
        byte[] model = new byte[4096 + (int) step];
        new Random(step).nextBytes(model);
        return List.of(
                new CheckpointFile("model.safetensors", model),
                new CheckpointFile("optimizer.safetensors", new byte[]{(byte) step, 2, 3}),
                new CheckpointFile("state.json", ("{\"step\":" + step + "}").getBytes(StandardCharsets.UTF_8)));
    }

    /** The file S3Proxy's filesystem backend keeps for an object. */
    private static Path onDisk(S3Uri uri) {
        return server.bucketDir().resolve(uri.key());
    }

    @Test
    void commitThenLatestReturnsIdenticalBytes(TestInfo info) {
        CheckpointStore store = store(info, 3);
        assertTrue(store.latest().isEmpty());
        List<CheckpointFile> files = files(100);
        S3Uri dir = store.commit(CheckpointStore.stepDir(100), files);
        assertEquals(store.stageRoot().resolve("step-000000100-e000001"), dir, "the step, then this attempt's epoch");

        LoadedCheckpoint loaded = store.latest().orElseThrow();
        assertEquals(dir, loaded.uri());
        assertEquals(100, loaded.step());
        for (CheckpointFile f : files) {
            assertArrayEquals(f.content(), loaded.file(f.name()));
        }
        assertEquals(List.of("model.safetensors", "optimizer.safetensors", "state.json"),
                List.copyOf(loaded.files().keySet()));
        BadInputException e = assertThrows(BadInputException.class, () -> loaded.file("tokenizer.json"));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains(dir.toString()));

        Manifest m = Manifest.parse(s3.get(dir.resolve(Manifest.FILE_NAME)));
        assertEquals(Manifest.FORMAT_VERSION, m.formatVersion());
        assertEquals(3, m.files().size());
        assertEquals(0, store.skippedCorrupt());
    }

    @Test
    void tornCheckpointAtHigherStepIsSkipped(TestInfo info) {
        CheckpointStore store = store(info, 3);
        store.commit(CheckpointStore.stepDir(100), files(100));
        // This attempt died mid-upload: files, no manifest.
        S3Uri torn = store.stageRoot().resolve(CheckpointNames.stepDir(200, store.epoch()));
        s3.put(torn.resolve("model.safetensors"), new byte[10]);

        assertEquals(100, store.latest().orElseThrow().step());
        assertEquals(1, store.skippedCorrupt());
        BadInputException e = assertThrows(BadInputException.class, () -> store.loadRequired(torn));
        assertTrue(e.getMessage().startsWith("checkpoint " + torn + " is missing or corrupt: torn"), e.getMessage());
    }

    @Test
    void flippedByteIsDetectedAndPreviousCheckpointUsed(TestInfo info) throws Exception {
        CheckpointStore store = store(info, 3);
        store.commit(CheckpointStore.stepDir(100), files(100));
        S3Uri newest = store.commit(CheckpointStore.stepDir(200), files(200));

        Path model = onDisk(newest.resolve("model.safetensors"));
        byte[] bytes = Files.readAllBytes(model);
        bytes[1000] ^= 0x01;
        Files.write(model, bytes);

        assertEquals(100, store.latest().orElseThrow().step());
        assertEquals(1, store.skippedCorrupt());
        BadInputException e = assertThrows(BadInputException.class, () -> store.loadRequired(newest));
        assertTrue(e.getMessage().contains("model.safetensors sha256"), e.getMessage());
    }

    @Test
    void missingFileIsDetected(TestInfo info) {
        CheckpointStore store = store(info, 3);
        store.commit(CheckpointStore.stepDir(100), files(100));
        S3Uri newest = store.commit(CheckpointStore.stepDir(200), files(200));
        s3.delete(newest.resolve("optimizer.safetensors"));

        assertEquals(100, store.latest().orElseThrow().step());
        BadInputException e = assertThrows(BadInputException.class, () -> store.loadRequired(newest));
        assertTrue(e.getMessage().endsWith("missing file optimizer.safetensors"), e.getMessage());
    }

    @Test
    void truncatedFileAndGarbageManifestAreDetected(TestInfo info) {
        CheckpointStore store = store(info, 3);
        S3Uri a = store.commit(CheckpointStore.stepDir(100), files(100));
        S3Uri b = store.commit(CheckpointStore.stepDir(200), files(200));
        S3Uri c = store.commit(CheckpointStore.stepDir(300), files(300));
        s3.put(c.resolve(Manifest.FILE_NAME), "{not json".getBytes(StandardCharsets.UTF_8));
        s3.put(b.resolve("state.json"), new byte[]{'{'});

        assertEquals(a, store.latest().orElseThrow().uri());
        assertEquals(2, store.skippedCorrupt());
        assertTrue(assertThrows(BadInputException.class, () -> store.loadRequired(c)).getMessage()
                .contains("unparsable MANIFEST.json"));
        assertTrue(assertThrows(BadInputException.class, () -> store.loadRequired(b)).getMessage()
                .contains("state.json has 1 bytes, manifest says"));
    }

    @Test
    void retentionKeepsNewestValidPlusFinal(TestInfo info) {
        CheckpointStore store = store(info, 2);
        store.commit(CheckpointStore.FINAL, files(7));
        for (long step = 100; step <= 500; step += 100) {
            store.commit(CheckpointStore.stepDir(step), files(step));
        }
        assertEquals(List.of("step-000000500-e000001", "step-000000400-e000001"), store.stepDirs());
        assertEquals(List.of("_epochs", "final", "step-000000400-e000001", "step-000000500-e000001"),
                s3.listDirectories(store.stageRoot()));
        assertTrue(store.loadFinal().isPresent());
        assertEquals(-1, store.loadFinal().orElseThrow().step());
    }

    /**
     * Torn directories in the layout before epochs (epoch 0) were left by an attempt this one replaced: the older one
     * is garbage like any torn checkpoint below a valid one, and the newer one is beyond the step this attempt
     * resumed from (nothing), so nobody may load it again either.
     */
    @Test
    void retentionDropsTornDirsThatReplacedAttemptsLeft(TestInfo info) {
        CheckpointStore store = store(info, 2);
        S3Uri root = store.stageRoot();
        s3.put(root.resolve(CheckpointStore.stepDir(50) + "/model.safetensors"), new byte[3]);
        s3.put(root.resolve(CheckpointStore.stepDir(900) + "/model.safetensors"), new byte[3]);
        assertEquals(List.of("step-000000900", "step-000000050"), store.stepDirs());
        store.commit(CheckpointStore.stepDir(100), files(100));
        store.commit(CheckpointStore.stepDir(200), files(200));

        assertEquals(List.of("step-000000200-e000001", "step-000000100-e000001"), store.stepDirs());
        assertEquals(200, store.latest().orElseThrow().step());
    }

    /**
     * A resumed stage found its newest checkpoints torn or damaged and went back to an older one. What it commits next
     * must not let those count towards keep_last: a flipped byte passes retention's cheap check, and counting it would
     * delete the checkpoint the stage just resumed from, leaving one valid checkpoint where keep_last promises two.
     */
    @Test
    void retentionKeepsTheNewestValidCheckpointsWhenNewerOnesAreTornOrCorrupt(TestInfo info) throws Exception {
        CheckpointStore store = store(info, 2);
        S3Uri root = store.stageRoot();
        // Written while keep_last was larger, so that five are there.
        CheckpointStore roomy = new CheckpointStore(s3, root, 10);
        for (long step = 100; step <= 500; step += 100) {
            roomy.commit(CheckpointStore.stepDir(step), files(step));
        }
        s3.delete(root.resolve(CheckpointNames.stepDir(300, 1) + "/" + Manifest.FILE_NAME));
        Path flipped = onDisk(root.resolve(CheckpointNames.stepDir(400, 1) + "/model.safetensors"));
        byte[] bytes = Files.readAllBytes(flipped);
        bytes[17] ^= 0x40;
        Files.write(flipped, bytes);
        s3.delete(root.resolve(CheckpointNames.stepDir(500, 1) + "/optimizer.safetensors"));
        assertEquals(List.of("step-000000500-e000001", "step-000000400-e000001", "step-000000300-e000001",
                "step-000000200-e000001", "step-000000100-e000001"), store.stepDirs());
        assertEquals(200, store.resume().orElseThrow().step(), "resumes from the newest that verifies in full");
        assertEquals(3, store.skippedCorrupt());
        assertEquals(2, store.epoch());

        // A time-based checkpoint between the one resumed from and the damaged ones: those are beyond the step
        // epoch 2 resumed from, so nobody loads them again, and they go; of the rest the newest two valid are kept.
        store.commit(CheckpointStore.stepDir(250), files(250));
        assertEquals(List.of("step-000000250-e000002", "step-000000200-e000001"), store.stepDirs());
        s3.delete(root.resolve(CheckpointNames.stepDir(250, 2) + "/state.json"));
        assertEquals(200, store.latest().orElseThrow().step(), "the older valid one is still there");

        store.commit(CheckpointStore.stepDir(300), files(300));
        assertEquals(List.of("step-000000300-e000002", "step-000000200-e000001"), store.stepDirs(),
                "the damaged 250 goes, 300 and 200 are the two valid ones");
        assertEquals(300, store.latest().orElseThrow().step());
    }

    @Test
    void recommitReplacesEveryFile(TestInfo info) {
        CheckpointStore store = store(info, 2);
        S3Uri step = store.commit(CheckpointStore.stepDir(10), List.of(new CheckpointFile("old.bin", new byte[]{1}),
                new CheckpointFile("model.safetensors", new byte[]{1})));
        assertEquals(step, store.commit(CheckpointStore.stepDir(10),
                List.of(new CheckpointFile("model.safetensors", new byte[]{2}))));
        assertArrayEquals(new byte[]{2}, store.latest().orElseThrow().file("model.safetensors"));
        assertEquals(List.of("MANIFEST.json", "model.safetensors"), s3.list(step), "this attempt's own directory");

        // final/ is shared by every attempt, so nothing in it is deleted: objects are replaced, and the manifest
        // says which belong to the checkpoint.
        S3Uri dir = store.commit(CheckpointStore.FINAL, List.of(new CheckpointFile("old.bin", new byte[]{1}),
                new CheckpointFile("model.safetensors", new byte[]{1})));
        store.commit(CheckpointStore.FINAL, List.of(new CheckpointFile("model.safetensors", new byte[]{2})));
        LoadedCheckpoint c = store.loadFinal().orElseThrow();
        assertArrayEquals(new byte[]{2}, c.file("model.safetensors"));
        assertEquals(List.of("model.safetensors"), List.copyOf(c.files().keySet()));
        assertEquals(List.of("MANIFEST.json", "model.safetensors", "old.bin"), s3.list(dir));
    }

    @Test
    void nestedFileNamesAndAbsentCheckpoints(TestInfo info) {
        CheckpointStore store = store(info, 2);
        assertTrue(store.loadFinal().isEmpty());
        S3Uri nowhere = store.stageRoot().resolve("step-000000001");
        assertEquals(Optional.empty(), store.load(nowhere));
        assertTrue(assertThrows(BadInputException.class, () -> store.loadRequired(nowhere)).getMessage()
                .endsWith("nothing is stored there"));
        assertEquals(0, store.skippedCorrupt());

        store.commit(CheckpointStore.FINAL, List.of(new CheckpointFile("tokenizer/vocab.json", new byte[]{5})));
        assertArrayEquals(new byte[]{5}, store.loadFinal().orElseThrow().file("tokenizer/vocab.json"));
    }

    @Test
    void badNamesAreRejected(TestInfo info) {
        CheckpointStore store = store(info, 2);
        assertThrows(IllegalArgumentException.class, () -> new CheckpointStore(s3, store.stageRoot(), 1));
        assertThrows(IllegalArgumentException.class, () -> store.commit("../x", files(1)));
        assertThrows(IllegalArgumentException.class, () -> store.commit("a/b", files(1)));
        assertThrows(IllegalArgumentException.class, () -> new CheckpointFile("MANIFEST.json", new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> new CheckpointFile("a/../b", new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> store.commit("final",
                List.of(new CheckpointFile("a", new byte[0]), new CheckpointFile("a", new byte[1]))));
        assertEquals("step-000001200", CheckpointStore.stepDir(1200));
        assertFalse(store.stepDirs().contains("final"));
    }
}
