package forge.storage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Not a benchmark: logs rough embedded-S3 vs local-disk rates so a regression by an order of magnitude shows. */
class S3ThroughputTest {
    private static final Logger log = LoggerFactory.getLogger(S3ThroughputTest.class);
    private static final int SIZE = 20 << 20;

    @Test
    void twentyMegabytesThroughEmbeddedS3AndLocalDisk(@TempDir Path dir) throws Exception {
        byte[] data = new byte[SIZE];
        new Random(1).nextBytes(data);
        Path file = dir.resolve("local.bin");
        try (EmbeddedS3 server = LocalS3.start(dir.resolve("s3"));
             S3Storage single = new S3Storage(server.settings("tp"), S3ClientOptions.defaults());
             S3Storage parts = new S3Storage(server.settings("tp"), LocalS3.testOptions())) {
            S3Uri uri = server.settings("tp").root().resolve("blob");
            single.put(uri, data); // warm up connections and JIT
            single.get(uri);
            for (int round = 0; round < 1; round++) {
                long t = System.nanoTime();
                single.put(uri, data);
                double putSingle = rate(t);
                t = System.nanoTime();
                byte[] back = single.get(uri);
                double get = rate(t);
                assertArrayEquals(data, back);
                t = System.nanoTime();
                parts.put(uri, data);
                double putParts = rate(t);
                t = System.nanoTime();
                Files.write(file, data);
                double diskWrite = rate(t);
                t = System.nanoTime();
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING)) {
                    ByteBuffer buf = ByteBuffer.wrap(data);
                    while (buf.hasRemaining()) {
                        ch.write(buf);
                    }
                    ch.force(true);
                }
                double diskSync = rate(t);
                t = System.nanoTime();
                Files.readAllBytes(file);
                double diskRead = rate(t);
                log.info("20 MiB: S3 put {} MiB/s (single), {} MiB/s (4 x 5 MiB parts), get {} MiB/s;"
                                + " local disk write {} MiB/s (with fsync {} MiB/s), read {} MiB/s",
                        fmt(putSingle), fmt(putParts), fmt(get), fmt(diskWrite), fmt(diskSync), fmt(diskRead));
            }
        }
    }

    private static double rate(long startNanos) {
        return (SIZE / 1048576.0) / ((System.nanoTime() - startNanos) / 1e9);
    }

    private static String fmt(double d) {
        return String.format("%.0f", d);
    }
}
