package forge.checkpoint;

import forge.storage.EmbeddedS3;
import forge.storage.LocalS3;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.tensor.SafetensorsIndex;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sharded, streamed checkpoints through the real store over S3Proxy: digests per shard, torn and corrupt shards. */
class ShardedCheckpointTest {
    @TempDir
    static Path dataDir;
    static EmbeddedS3 server;
    static S3Storage s3;

    @BeforeAll
    static void start() {
        server = LocalS3.start(dataDir);
        s3 = new S3Storage(server.settings("shards"), LocalS3.testOptions());   // 5 MiB parts from 5 MiB on
    }

    @AfterAll
    static void stop() {
        s3.close();
        server.close();
    }

    private static CheckpointStore store(TestInfo info) {
        String run = info.getTestMethod().orElseThrow().getName();
        return new CheckpointStore(s3, s3.settings().stageRoot(run, "pretrain"), 3);
    }

    /** Twenty 16 KiB tensors and a 12 MiB one: in 64 KiB shards, the large one alone goes up in three parts. */
    private static Map<String, HostTensor> weights(long seed) {
        Random r = new Random(seed);
        Map<String, HostTensor> w = new LinkedHashMap<>();
        for (int i = 0; i < 20; i++) {
            w.put("h." + i + ".mlp.c_fc.weight", tensor(r, 64, 64));
        }
        w.put("wte.weight", tensor(r, 3 * 1024, 1024));
        return w;
    }

    private static HostTensor tensor(Random r, int rows, int cols) {
        byte[] b = new byte[rows * cols * 4];
        r.nextBytes(b);
        return new HostTensor("I32", new long[] {rows, cols}, b);
    }

    private static List<CheckpointFile> files(Map<String, HostTensor> w, long step) {
        List<CheckpointFile> files = new ArrayList<>(CheckpointTensors.files("model", w, Map.of("format", "pt"),
                64 * 1024));
        files.addAll(CheckpointTensors.files("optimizer", Map.of("exp_avg.x", w.get("h.0.mlp.c_fc.weight")),
                Map.of(), 64 * 1024));
        files.add(new CheckpointFile("state.json", ("{\"step\":" + step + "}").getBytes(StandardCharsets.UTF_8)));
        return files;
    }

    private static Path onDisk(S3Uri uri) {
        return server.bucketDir().resolve(uri.key());
    }

    @Test
    void shardsRoundTripWithADigestEachMatchingTheStoredObject(TestInfo info) throws IOException {
        CheckpointStore store = store(info);
        Map<String, HostTensor> w = weights(1);
        long before = s3.multipartUploads();
        S3Uri dir = store.commit(CheckpointStore.stepDir(10), files(w, 10));
        assertTrue(s3.multipartUploads() > before, "the 12 MiB shard streamed in parts");

        LoadedCheckpoint c = store.latest().orElseThrow();
        assertEquals(w, CheckpointTensors.readAll(c, "model"));
        assertEquals(Map.of("exp_avg.x", w.get("h.0.mlp.c_fc.weight")), CheckpointTensors.readAll(c, "optimizer"));

        SafetensorsIndex index = SafetensorsIndex.parse(c.file("model.safetensors.index.json"), "index");
        assertTrue(index.shards().size() > 5, "shards: " + index.shards());
        assertTrue(c.has("optimizer.safetensors"), "one shard: a single file, no index");
        for (String shard : index.shards()) {
            Manifest.Entry e = c.manifest().entry(shard).orElseThrow(() -> new AssertionError(shard + " unlisted"));
            byte[] stored = Files.readAllBytes(onDisk(dir.resolve(shard)));
            assertEquals(e.size(), stored.length, shard);
            assertEquals(Digests.sha256(stored), e.sha256(), shard + ": the digest taken while streaming");
            forge.tensor.SafetensorsFormat.check(stored);
        }
    }

    @Test
    void aMissingShardMakesThePreviousCheckpointTheNewest(TestInfo info) throws IOException {
        CheckpointStore store = store(info);
        store.commit(CheckpointStore.stepDir(10), files(weights(1), 10));
        S3Uri newer = store.commit(CheckpointStore.stepDir(20), files(weights(2), 20));
        Files.delete(onDisk(newer.resolve("model-00003-of-" + shardCount(store) + ".safetensors")));
        LoadedCheckpoint c = store.latest().orElseThrow();
        assertEquals(10, c.step());
        assertEquals(weights(1), CheckpointTensors.readAll(c, "model"));
        assertTrue(store.skippedCorrupt() >= 1);
    }

    @Test
    void aCorruptedLargeShardIsCaughtByItsDigest(TestInfo info) throws IOException {
        CheckpointStore store = store(info);
        store.commit(CheckpointStore.stepDir(10), files(weights(1), 10));
        S3Uri newer = store.commit(CheckpointStore.stepDir(20), files(weights(2), 20));
        SafetensorsIndex index = SafetensorsIndex.parse(s3.get(newer.resolve("model.safetensors.index.json")), "i");
        Path big = onDisk(newer.resolve(index.weightMap().get("wte.weight")));
        byte[] bytes = Files.readAllBytes(big);
        bytes[bytes.length - 5] ^= 1;   // same size: only the digest can tell
        Files.write(big, bytes);
        LoadedCheckpoint c = store.latest().orElseThrow();
        assertEquals(10, c.step());
        assertEquals(weights(1), CheckpointTensors.readAll(c, "model"));
    }

    @Test
    void aTornCommitWithoutManifestIsSkipped(TestInfo info) {
        CheckpointStore store = store(info);
        store.commit(CheckpointStore.stepDir(10), files(weights(1), 10));
        S3Uri newer = store.commit(CheckpointStore.stepDir(20), files(weights(2), 20));
        s3.delete(newer.resolve(Manifest.FILE_NAME));
        assertEquals(10, store.latest().orElseThrow().step());
    }

    /** Checkpoints written before shards (one model.safetensors of any size, built in one array) still load. */
    @Test
    void aSingleFileCheckpointFromBeforeShardsStillLoads(TestInfo info) {
        CheckpointStore store = store(info);
        Map<String, HostTensor> w = weights(3);
        store.commit(CheckpointStore.stepDir(10), List.of(
                new CheckpointFile("model.safetensors", Safetensors.write(w, Map.of("format", "pt"))),
                new CheckpointFile("optimizer.safetensors", Safetensors.write(Map.of("exp_avg.x",
                        w.get("h.1.mlp.c_fc.weight")), Map.of())),
                new CheckpointFile("state.json", "{}".getBytes(StandardCharsets.UTF_8))));
        LoadedCheckpoint c = store.latest().orElseThrow();
        assertEquals(w, CheckpointTensors.readAll(c, "model"));
        assertEquals(w.get("h.1.mlp.c_fc.weight"), CheckpointTensors.readAll(c, "optimizer").get("exp_avg.x"));
    }

    @Test
    void finalIsWrittenShardedThroughItsConditionalPuts(TestInfo info) {
        CheckpointStore store = store(info);
        Map<String, HostTensor> w = weights(4);
        S3Uri fin = store.commit(CheckpointStore.FINAL, files(w, 30));
        LoadedCheckpoint c = store.load(fin).orElseThrow();
        assertEquals(w, CheckpointTensors.readAll(c, "model"));
        assertTrue(c.has("model.safetensors.index.json"));
        // Written again by the same attempt over its own objects (If-Match on every one): still one valid final/.
        store.commit(CheckpointStore.FINAL, files(weights(5), 31));
        assertEquals(weights(5), CheckpointTensors.readAll(store.load(fin).orElseThrow(), "model"));
    }

    @Test
    void theBufferBoundIsAFewPartsWhateverTheShard() {
        long mib = 1024 * 1024;
        assertEquals(5 * 16 * mib + 8 * mib, CheckpointBuffers.peakBytes(2000 * 1_000_000L, 16 * mib, 4));
        assertEquals(CheckpointBuffers.peakBytes(2000 * 1_000_000L, 16 * mib, 4),
                CheckpointBuffers.peakBytes(50 * 1_000_000L, 16 * mib, 4));
        assertTrue(CheckpointBuffers.peakBytes(400_000L * mib, 16 * mib, 4) > 5 * 16 * mib,
                "past 10,000 parts, parts grow");
    }

    private static String shardCount(CheckpointStore store) {
        LoadedCheckpoint c = store.latest().orElseThrow();
        List<String> shards = SafetensorsIndex.parse(c.file("model.safetensors.index.json"), "i").shards();
        return String.format("%05d", shards.size());
    }
}
