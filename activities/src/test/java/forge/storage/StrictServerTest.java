package forge.storage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Stock S3Proxy rejects headers it does not know; the client must still work against such servers. */
class StrictServerTest {
    @Test
    void worksWithoutMultiObjectDeleteAndChecksumHeaders(@TempDir Path dir) {
        try (EmbeddedS3 server = EmbeddedS3.start(dir, "127.0.0.1", 0, LocalS3.BUCKET, LocalS3.ACCESS_KEY,
                LocalS3.SECRET_KEY, false)) {
            server.useAsDefaultCredentials();
            try (S3Storage s3 = new S3Storage(server.settings("strict"), LocalS3.testOptions())) {
                S3Uri root = server.settings("strict").root();
                byte[] big = new byte[6 << 20];
                big[123] = 7;
                s3.put(root.resolve("d/big"), big);
                s3.put(root.resolve("d/small"), new byte[]{1});
                assertArrayEquals(big, s3.get(root.resolve("d/big")));
                assertEquals(2, s3.deleteAll(root.resolve("d")));
                assertEquals(List.of(), s3.list(root));
            }
        }
    }
}
