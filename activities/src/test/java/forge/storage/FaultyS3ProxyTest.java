package forge.storage;

import forge.storage.FaultyS3Proxy.Fault;
import forge.storage.FaultyS3Proxy.Rates;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fault-injecting proxy itself: transparent when quiet, each fault what a client of real S3 would meet. */
class FaultyS3ProxyTest {
    private static final Duration SOCKET_TIMEOUT = Duration.ofMillis(700);

    @TempDir
    static Path dataDir;
    static EmbeddedS3 server;
    static S3Storage direct;

    @BeforeAll
    static void start() {
        server = LocalS3.start(dataDir);
        direct = new S3Storage(server.settings("proxy"), LocalS3.testOptions());
    }

    @AfterAll
    static void stop() {
        direct.close();
        server.close();
    }

    private static S3ClientOptions options(int attempts) {
        return new S3ClientOptions(attempts, Duration.ofSeconds(2), SOCKET_TIMEOUT, Duration.ofMinutes(1),
                5L << 20, 5L << 20, true);
    }

    private static S3Storage through(FaultyS3Proxy proxy, int attempts) {
        return new S3Storage(S3Settings.local(proxy.endpoint(), server.bucket(), "proxy"), options(attempts));
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void withoutFaultsEveryOperationPassesThroughUnchanged() {
        try (FaultyS3Proxy proxy = FaultyS3Proxy.start(server.endpoint(), 1, Rates.NONE, Duration.ofSeconds(1));
             S3Storage s3 = through(proxy, 1)) {
            S3Uri dir = s3.settings().root().resolve("quiet");
            byte[] small = bytes(1000, 1);
            byte[] large = bytes((11 << 20) + 3, 2);
            s3.put(dir.resolve("small"), small);
            s3.put(dir.resolve("large"), large);
            assertEquals(1, s3.multipartUploads(), "11 MiB goes in three parts");
            assertArrayEquals(small, s3.get(dir.resolve("small")));
            assertArrayEquals(large, s3.get(dir.resolve("large")));
            assertArrayEquals(large, direct.get(dir.resolve("large")));
            assertEquals(List.of("large", "small"), s3.list(dir));
            assertTrue(s3.exists(dir.resolve("small")));
            assertFalse(s3.exists(dir.resolve("absent")));
            assertEquals(2, s3.deleteAll(dir));
            assertTrue(direct.list(dir).isEmpty());
            assertEquals(0, proxy.injectedTotal());
            assertTrue(proxy.requests() >= 12, "requests " + proxy.requests());
        }
    }

    @Test
    void eachFaultReachesTheClientAsS3WouldDeliverIt() {
        try (FaultyS3Proxy proxy = FaultyS3Proxy.start(server.endpoint(), 2, Rates.NONE, SOCKET_TIMEOUT.multipliedBy(2));
             S3Storage s3 = through(proxy, 1)) {
            S3Uri dir = s3.settings().root().resolve("faults");
            S3Uri key = dir.resolve("object");
            byte[] before = bytes(20_000, 3);
            direct.put(key, before);

            proxy.rates(Rates.only(Fault.HTTP_500));
            StorageException e = assertThrows(StorageException.class, () -> s3.get(key));
            assertEquals(500, e.statusCode());
            assertTrue(e.getMessage().contains("InternalError"), e.getMessage());

            proxy.rates(Rates.only(Fault.HTTP_503));
            e = assertThrows(StorageException.class, () -> s3.put(key, bytes(10, 4)));
            assertEquals(503, e.statusCode());
            assertTrue(e.getMessage().contains("SlowDown"), e.getMessage());

            proxy.rates(Rates.only(Fault.RESET));
            assertThrows(StorageException.class, () -> s3.list(dir));

            proxy.rates(Rates.only(Fault.STALL));
            long t0 = System.nanoTime();
            e = assertThrows(StorageUnavailableException.class, () -> s3.get(key));
            assertTrue(e.getMessage().contains("timed out"), e.getMessage());
            assertTrue(System.nanoTime() - t0 >= SOCKET_TIMEOUT.toNanos(), "the client waited out its timeout");

            proxy.rates(Rates.only(Fault.TRUNCATE));
            byte[] after = bytes(30_000, 5);
            assertThrows(StorageException.class, () -> s3.put(key, after));
            assertArrayEquals(before, direct.get(key), "a cut-off upload leaves the old object whole");
            S3Uri fresh = dir.resolve("fresh");
            assertThrows(StorageException.class, () -> s3.put(fresh, after));
            assertFalse(direct.exists(fresh), "a cut-off upload stores nothing");
            assertArrayEquals(before, s3.get(key), "only uploads are truncated");

            for (Fault f : Fault.values()) {
                assertEquals(f == Fault.TRUNCATE ? 2 : 1, proxy.injected(f), f + ": " + proxy.injectedByKind());
            }
        }
    }

    @Test
    void scheduledFaultsHitTheNamedObjectFirst() {
        try (FaultyS3Proxy proxy = FaultyS3Proxy.start(server.endpoint(), 3, Rates.NONE, Duration.ofSeconds(1));
             S3Storage s3 = through(proxy, 2)) {
            S3Uri dir = s3.settings().root().resolve("scheduled");
            proxy.schedule(Fault.HTTP_503, "PUT", "/scheduled/b", 2);
            s3.put(dir.resolve("a"), new byte[] {1});
            StorageException e = assertThrows(StorageException.class, () -> s3.put(dir.resolve("b"), new byte[] {2}));
            assertEquals(503, e.statusCode());
            s3.put(dir.resolve("b"), new byte[] {3});
            assertArrayEquals(new byte[] {3}, direct.get(dir.resolve("b")));
            assertEquals(2, proxy.injected(Fault.HTTP_503));
        }
    }

    /** Retries with backoff get every object through intact, multipart parts included, however often they fail. */
    @Test
    void theClientsRetriesCarryEveryObjectThroughManyFaults() {
        Rates rates = new Rates(0.08, 0.08, 0.08, 0.03, 0.3);
        try (FaultyS3Proxy proxy = FaultyS3Proxy.start(server.endpoint(), 4, rates, SOCKET_TIMEOUT.multipliedBy(2));
             S3Storage s3 = through(proxy, 8)) {
            S3Uri dir = s3.settings().root().resolve("retried");
            for (int i = 0; i < 12; i++) {
                byte[] content = bytes(1 + i * 1999, 100 + i);
                s3.put(dir.resolve("o" + i), content);
                assertArrayEquals(content, direct.get(dir.resolve("o" + i)), "object " + i);
                assertArrayEquals(content, s3.get(dir.resolve("o" + i)), "object " + i);
            }
            // A lost CompleteMultipartUpload reply cannot be retried (the upload id is gone), so parts meet only
            // faults that keep the request from the upstream or cut its body.
            proxy.rates(new Rates(0.1, 0.1, 0, 0, 0.25));
            byte[] large = bytes((10 << 20) + 11, 6);
            s3.put(dir.resolve("large"), large);
            assertArrayEquals(large, direct.get(dir.resolve("large")));
            System.out.println("faulty S3 proxy: " + proxy.requests() + " requests, injected "
                    + proxy.injectedByKind());
            for (Fault f : Fault.values()) {
                assertTrue(proxy.injected(f) > 0, f + " never injected: " + proxy.injectedByKind());
            }
        }
    }

    @Test
    void ratesMustFormAProbability() {
        assertThrows(IllegalArgumentException.class, () -> new Rates(0.5, 0.5, 0.1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new Rates(-0.1, 0, 0, 0, 0));
        assertEquals(new Rates(0, 0, 0, 1, 0), Rates.only(Fault.STALL));
    }
}
