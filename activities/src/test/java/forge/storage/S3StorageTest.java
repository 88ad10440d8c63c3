package forge.storage;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileNotFoundException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class S3StorageTest {
    @TempDir
    static Path dataDir;
    static EmbeddedS3 server;
    static S3Storage s3;

    @BeforeAll
    static void start() {
        server = LocalS3.start(dataDir);
        s3 = new S3Storage(server.settings("t"), LocalS3.testOptions());
    }

    @AfterAll
    static void stop() {
        s3.close();
        server.close();
    }

    private static S3Uri uri(String key) {
        return new S3Uri(LocalS3.BUCKET, key);
    }

    @Test
    void putGetListDeleteRoundTrip() throws Exception {
        S3Uri dir = uri("rt/run1");
        s3.put(dir.resolve("a.txt"), "hello".getBytes(StandardCharsets.UTF_8));
        s3.put(dir.resolve("sub/b.bin"), new byte[]{1, 2, 3});
        s3.put(uri("rt/run10/c"), new byte[]{9});

        assertEquals("hello", new String(s3.get(dir.resolve("a.txt")), StandardCharsets.UTF_8));
        assertEquals(List.of("a.txt", "sub/b.bin"), s3.list(dir), "run10 shares the string prefix, not the directory");
        assertEquals(List.of("sub"), s3.listDirectories(dir));
        assertEquals(List.of("run1", "run10"), s3.listDirectories(uri("rt")));
        assertTrue(s3.exists(dir.resolve("a.txt")));
        assertFalse(s3.exists(dir.resolve("sub")), "a directory is not an object");
        try (InputStream in = s3.open(dir.resolve("sub/b.bin").toString())) {
            assertArrayEquals(new byte[]{1, 2, 3}, in.readAllBytes());
        }

        s3.delete(dir.resolve("a.txt"));
        assertFalse(s3.exists(dir.resolve("a.txt")));
        assertTrue(s3.getIfExists(dir.resolve("a.txt")).isEmpty());
        assertThrows(ObjectNotFoundException.class, () -> s3.get(dir.resolve("a.txt")));
        assertThrows(FileNotFoundException.class, () -> s3.open(dir.resolve("a.txt").toString()));
        s3.delete(dir.resolve("a.txt"));

        s3.deleteAll(dir);
        assertEquals(List.of(), s3.list(dir));
        assertEquals(List.of(), s3.listDirectories(dir));
        assertEquals(List.of("c"), s3.list(uri("rt/run10")));
    }

    @Test
    void directoryMarkersFromTheFilesystemBackendAreNotObjects() throws Exception {
        S3Uri dir = uri("markers");
        s3.put(dir.resolve("x/file"), new byte[]{7});
        // What a crashed upload or a manual mkdir leaves in the S3Proxy data dir: directories without objects.
        Files.createDirectories(server.bucketDir().resolve("markers/empty/deeper"));
        Files.createDirectories(server.bucketDir().resolve("markers/x/inner"));

        assertEquals(List.of("x/file"), s3.list(dir));
        assertEquals(List.of("empty", "x"), s3.listDirectories(dir));
        assertEquals(List.of(), s3.list(dir.resolve("empty")));
        s3.deleteAll(dir);
        assertEquals(List.of(), s3.list(dir));
    }

    @Test
    void largeObjectsGoMultipartAndComeBackEqual() {
        byte[] big = new byte[11 << 20];
        new Random(42).nextBytes(big);
        long before = s3.multipartUploads();
        s3.put(uri("big/model.bin"), big);
        assertEquals(before + 1, s3.multipartUploads());
        assertArrayEquals(big, s3.get(uri("big/model.bin")));

        byte[] small = new byte[(5 << 20) - 1];
        s3.put(uri("big/small.bin"), small);
        assertEquals(before + 1, s3.multipartUploads(), "below the threshold is a single PUT");
        assertArrayEquals(small, s3.get(uri("big/small.bin")));
    }

    /**
     * What fencing relies on (docs/fencing.md): S3Proxy 3.0 refuses a second create and a stale overwrite, for single
     * PUTs and for multipart uploads (which it checks when the upload is created, AWS S3 when it completes).
     */
    @Test
    void conditionalWritesAreEnforcedForSingleAndMultipartUploads() {
        assertTrue(s3.conditionalWrites(uri("cond/probe")), "S3Proxy 3.0 honours If-None-Match and If-Match");
        assertEquals(List.of(), s3.list(uri("cond/probe")), "the probe cleans up after itself");
        byte[] small = "v1".getBytes(StandardCharsets.UTF_8);
        byte[] big = new byte[6 << 20];
        new Random(5).nextBytes(big);
        for (byte[] body : List.of(small, big)) {
            S3Uri key = uri("cond/" + body.length);
            s3.putIfAbsent(key, body);
            assertThrows(PreconditionFailedException.class, () -> s3.putIfAbsent(key, new byte[]{1}));
            String etag = s3.listWithSizes(uri("cond")).stream().filter(o -> o.name().equals(String.valueOf(body.length)))
                    .findFirst().orElseThrow().etag();
            assertThrows(PreconditionFailedException.class, () -> s3.putIfMatch(key, new byte[]{2}, "\"0123\""));
            assertArrayEquals(body, s3.get(key), "refused writes change nothing");
            s3.putIfMatch(key, new byte[]{3}, etag);
            assertArrayEquals(new byte[]{3}, s3.get(key));
        }
        S3Storage off = new S3Storage(server.settings("t"), LocalS3.testOptions().withConditionalWrites(false));
        assertFalse(off.conditionalWrites(uri("cond/probe")), "turned off, nothing is probed");
        off.close();
    }

    @Test
    void emptyObjectRoundTrips() {
        s3.put(uri("empty/zero"), new byte[0]);
        assertArrayEquals(new byte[0], s3.get(uri("empty/zero")));
        List<StoredObject> listed = s3.listWithSizes(uri("empty"));
        assertEquals(1, listed.size());
        assertEquals("zero", listed.get(0).name());
        assertEquals(0, listed.get(0).size());
        assertEquals("\"d41d8cd98f00b204e9800998ecf8427e\"", listed.get(0).etag(), "the MD5 of nothing, quoted");
    }

    @Test
    void wrongSecretIsAServiceErrorNamingTheObjectAndStatus() {
        String saved = System.getProperty("aws.secretAccessKey");
        System.setProperty("aws.secretAccessKey", "not-the-secret");
        try (S3Storage bad = new S3Storage(server.settings(""), LocalS3.testOptions())) {
            StorageException e = assertThrows(StorageException.class, () -> bad.get(uri("any/key")));
            assertFalse(e instanceof StorageUnavailableException);
            assertEquals(403, e.statusCode());
            assertTrue(e.getMessage().contains("s3://forge-test/any/key"), e.getMessage());
            assertTrue(e.getMessage().contains("403"), e.getMessage());
        } finally {
            System.setProperty("aws.secretAccessKey", saved);
        }
    }

    @Test
    void ensureBucketCreatesOnceAndIsIdempotent() {
        S3Settings other = new S3Settings(server.endpoint().toString(), null, true, "second-bucket", "p");
        try (S3Storage s = new S3Storage(other, LocalS3.testOptions())) {
            s.ensureBucket();
            s.ensureBucket();
            s.put(other.root().resolve("k"), new byte[]{1});
            assertArrayEquals(new byte[]{1}, s.get(other.root().resolve("k")));
        }
    }
}
