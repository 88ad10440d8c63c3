package forge.storage;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UnreachableEndpointTest {
    @Test
    void closedPortIsStorageUnavailableNamingTheEndpoint() throws IOException {
        System.setProperty("aws.accessKeyId", LocalS3.ACCESS_KEY);
        System.setProperty("aws.secretAccessKey", LocalS3.SECRET_KEY);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String endpoint = "http://127.0.0.1:" + port;
        S3Settings settings = new S3Settings(endpoint, null, true, "bucket", "p");
        S3ClientOptions options = S3ClientOptions.defaults().withMaxAttempts(3);
        long start = System.nanoTime();
        try (S3Storage s3 = new S3Storage(settings, options)) {
            StorageUnavailableException e = assertThrows(StorageUnavailableException.class,
                    () -> s3.get(settings.root().resolve("k")));
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            String msg = e.getMessage();
            assertTrue(msg.startsWith("S3 endpoint " + endpoint + " unreachable: "), msg);
            assertTrue(msg.contains("after 3 attempts"), msg);
            assertFalse(msg.contains("\n"), msg);
            assertTrue(took.toSeconds() < 10, "took " + took);
            System.out.println("unreachable endpoint message: " + msg + " (" + took.toMillis() + " ms)");

            assertThrows(StorageUnavailableException.class, () -> s3.put(settings.root().resolve("k"), new byte[1]));
            assertThrows(StorageUnavailableException.class, () -> s3.list(settings.root()));
        }
    }
}
