package forge.storage;

import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

import java.io.ByteArrayInputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Uploads one in-memory object in parts, {@link #PARALLEL_PARTS} at a time. Each part is its own API call, so a retry
 * re-sends at most one part and the per-call timeout bounds a part rather than a multi-GiB object. On any failure the
 * upload is aborted so no orphaned parts keep costing storage.
 */
final class MultipartPut {
    /** Parts in flight per object. */
    static final int PARALLEL_PARTS = 4;

    private MultipartPut() {
    }

    /**
     * A conditional upload: {@code ifNoneMatch}/{@code ifMatch} go on CompleteMultipartUpload, where AWS S3 checks
     * them; with {@code onCreateToo} also on CreateMultipartUpload, where S3Proxy 3.0 checks them instead.
     */
    record Condition(String ifNoneMatch, String ifMatch, boolean onCreateToo) {
        static final Condition NONE = new Condition(null, null, false);

        boolean any() {
            return ifNoneMatch != null || ifMatch != null;
        }
    }

    static void upload(S3Client s3, S3Uri uri, byte[] data, long configuredPartSize, boolean crc32) {
        upload(s3, uri, data, configuredPartSize, crc32, Condition.NONE);
    }

    static void upload(S3Client s3, S3Uri uri, byte[] data, long configuredPartSize, boolean crc32,
                       Condition condition) {
        long partSize = partSize(data.length, configuredPartSize);
        // On AWS: CRC32 declared on create, parts and complete, which is what S3 expects once the SDK adds part
        // checksums. Elsewhere none, since S3-compatible servers often reject checksum trailers.
        ChecksumAlgorithm algorithm = crc32 ? ChecksumAlgorithm.CRC32 : null;
        String uploadId = create(s3, uri, algorithm, condition);
        int count = (int) ((data.length + partSize - 1) / partSize);
        // Parts go up a few at a time: one at a time, each waited for its payload hash, the transfer and the server's
        // write in turn, and on S3 itself one connection carries a fraction of what a few do.
        ExecutorService pool = partPool(uri, Math.min(PARALLEL_PARTS, count));
        try {
            List<Future<CompletedPart>> pending = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                int off = (int) (i * partSize);
                int len = (int) Math.min(partSize, data.length - (long) off);
                int number = i + 1;
                pending.add(pool.submit(() -> uploadPart(s3, uri, uploadId, number, data, off, len, algorithm)));
            }
            complete(s3, uri, uploadId, condition, pending);
        } catch (RuntimeException e) {
            throw abort(s3, uri, uploadId, pool, e);
        } finally {
            pool.shutdownNow();
        }
    }

    /** The part size for an object of {@code size}: the configured one, or larger where 10,000 parts need it. */
    static long partSize(long size, long configuredPartSize) {
        return Math.max(configuredPartSize, (size + S3ClientOptions.MAX_PARTS - 1L) / S3ClientOptions.MAX_PARTS);
    }

    /** The threads that upload one object's parts. */
    static ExecutorService partPool(S3Uri uri, int threads) {
        return Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "multipart " + uri.key());
            t.setDaemon(true);
            return t;
        });
    }

    static CompletedPart uploadPart(S3Client s3, S3Uri uri, String uploadId, int number, byte[] data, int off,
                                    int len, ChecksumAlgorithm algorithm) {
        UploadPartResponse r = s3.uploadPart(b -> b.bucket(uri.bucket()).key(uri.key())
                        .uploadId(uploadId).partNumber(number).contentLength((long) len)
                        .checksumAlgorithm(algorithm),
                // A provider, not fromBytes: no copy of the part, and a fresh stream for every retry.
                RequestBody.fromContentProvider(() -> new ByteArrayInputStream(data, off, len), len,
                        "application/octet-stream"));
        return CompletedPart.builder().partNumber(number).eTag(r.eTag()).checksumCRC32(r.checksumCRC32()).build();
    }

    /** Waits for every part, then completes the upload under its condition. */
    static void complete(S3Client s3, S3Uri uri, String uploadId, Condition condition,
                         List<Future<CompletedPart>> pending) {
        List<CompletedPart> parts = new ArrayList<>();
        for (Future<CompletedPart> f : pending) {
            parts.add(await(f));
        }
        s3.completeMultipartUpload(b -> b.bucket(uri.bucket()).key(uri.key()).uploadId(uploadId)
                .ifNoneMatch(condition.ifNoneMatch()).ifMatch(condition.ifMatch())
                .multipartUpload(m -> m.parts(parts)));
    }

    /** After a failure: stops the parts, aborts the upload, and returns {@code e} (an abort's failure suppressed in it). */
    static RuntimeException abort(S3Client s3, S3Uri uri, String uploadId, ExecutorService pool, RuntimeException e) {
        stop(pool); // parts still running would otherwise outlive the abort and leave orphans behind it
        try {
            s3.abortMultipartUpload(b -> b.bucket(uri.bucket()).key(uri.key()).uploadId(uploadId));
        } catch (RuntimeException abortFailure) {
            e.addSuppressed(abortFailure);
        }
        return e;
    }

    static String create(S3Client s3, S3Uri uri, ChecksumAlgorithm algorithm, Condition condition) {
        return s3.createMultipartUpload(b -> {
            b.bucket(uri.bucket()).key(uri.key()).checksumAlgorithm(algorithm);
            if (condition.any() && condition.onCreateToo()) {
                b.overrideConfiguration(o -> {
                    if (condition.ifNoneMatch() != null) {
                        o.putHeader("If-None-Match", condition.ifNoneMatch());
                    }
                    if (condition.ifMatch() != null) {
                        o.putHeader("If-Match", condition.ifMatch());
                    }
                });
            }
        }).uploadId();
    }

    static CompletedPart await(Future<CompletedPart> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw AbortedException.create("interrupted while uploading parts", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw SdkClientException.create("part upload failed: " + e.getCause(), e.getCause());
        }
    }

    static void stop(ExecutorService pool) {
        pool.shutdownNow();
        try {
            pool.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
