package forge.storage;

import java.time.Duration;

/**
 * How the client behaves, as opposed to where it points ({@link S3Settings}). Defaults suit checkpoints of a few
 * MiB to a few GiB; tests shrink the retry count and the multipart sizes.
 *
 * @param maxAttempts        total tries per request (1 = no retry), SDK standard mode with jittered backoff
 * @param connectTimeout     bounds the TCP connect so a dead endpoint fails fast instead of hanging a stage
 * @param socketTimeout      longest silence while reading or writing on an open connection
 * @param apiCallTimeout     cap on one API call including its retries; a multipart upload is many calls, so this
 *                           caps one part, not the whole object
 * @param multipartThreshold objects at least this large are uploaded in parts
 * @param partSize           size of every part but the last; S3 requires at least 5 MiB
 * @param conditionalWrites  false: never rely on {@code If-None-Match}/{@code If-Match} (tests of the fallback);
 *                           true: probe the endpoint for them ({@link S3Storage#conditionalWrites})
 */
public record S3ClientOptions(int maxAttempts, Duration connectTimeout, Duration socketTimeout,
                              Duration apiCallTimeout, long multipartThreshold, long partSize,
                              boolean conditionalWrites) {
    public static final long MIN_PART_SIZE = 5L * 1024 * 1024;
    // S3 allows at most 10,000 parts; with 5 GiB single-part limit this keeps even huge objects in bounds.
    static final int MAX_PARTS = 10_000;

    public S3ClientOptions {
        if (maxAttempts < 1 || maxAttempts > 20) {
            throw new IllegalArgumentException("maxAttempts must be in [1, 20], got " + maxAttempts);
        }
        requirePositive(connectTimeout, "connectTimeout");
        requirePositive(socketTimeout, "socketTimeout");
        requirePositive(apiCallTimeout, "apiCallTimeout");
        if (partSize < MIN_PART_SIZE) {
            throw new IllegalArgumentException("partSize must be >= 5 MiB (S3 minimum), got " + partSize);
        }
        if (partSize > 5L * 1024 * 1024 * 1024) {
            throw new IllegalArgumentException("partSize must be <= 5 GiB (S3 maximum), got " + partSize);
        }
        if (multipartThreshold < partSize) {
            throw new IllegalArgumentException("multipartThreshold (" + multipartThreshold
                    + ") must be >= partSize (" + partSize + ")");
        }
    }

    public static S3ClientOptions defaults() {
        return new S3ClientOptions(4, Duration.ofSeconds(5), Duration.ofSeconds(60), Duration.ofMinutes(10),
                32L * 1024 * 1024, 16L * 1024 * 1024, true);
    }

    public S3ClientOptions withMaxAttempts(int attempts) {
        return new S3ClientOptions(attempts, connectTimeout, socketTimeout, apiCallTimeout, multipartThreshold,
                partSize, conditionalWrites);
    }

    public S3ClientOptions withMultipart(long threshold, long part) {
        return new S3ClientOptions(maxAttempts, connectTimeout, socketTimeout, apiCallTimeout, threshold, part,
                conditionalWrites);
    }

    public S3ClientOptions withConditionalWrites(boolean enabled) {
        return new S3ClientOptions(maxAttempts, connectTimeout, socketTimeout, apiCallTimeout, multipartThreshold,
                partSize, enabled);
    }

    private static void requirePositive(Duration d, String name) {
        if (d == null || d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(name + " must be a positive duration, got " + d);
        }
    }
}
