package forge.bench;

import forge.checkpoint.CheckpointStore;
import forge.storage.EmbeddedS3;
import forge.storage.S3ClientOptions;
import forge.storage.S3Storage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The embedded S3 of {@code ./forge dev}, over a temporary folder deleted on close: benchmarks that run real stages
 * checkpoint through the real client (SigV4, multipart, background uploads), so its threads, buffers and sockets
 * are part of what they measure.
 */
final class BenchS3 implements AutoCloseable {
    private static final String BUCKET = "forge-bench";

    private final Path dir;
    private final EmbeddedS3 s3;
    final S3Storage storage;

    private BenchS3(Path dir, EmbeddedS3 s3, S3Storage storage) {
        this.dir = dir;
        this.s3 = s3;
        this.storage = storage;
    }

    static BenchS3 start(String name) {
        Path dir;
        try {
            dir = Files.createTempDirectory("forge-bench-" + name + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        EmbeddedS3 s3 = EmbeddedS3.start(dir, "127.0.0.1", 0, BUCKET, "forge-bench-access", "forge-bench-secret");
        // The client reads its keys from the default chain, as a worker's does; this process talks to no other S3.
        s3.useAsDefaultCredentials();
        return new BenchS3(dir, s3, new S3Storage(s3.settings("runs"), S3ClientOptions.defaults()));
    }

    CheckpointStore store(String run, String stage, int keepLast) {
        return new CheckpointStore(storage, s3.settings("runs").stageRoot(run, stage), keepLast);
    }

    @Override
    public void close() {
        try {
            storage.close();
            s3.close();
        } finally {
            CheckpointIoBench.deleteQuietly(dir);
        }
    }
}
