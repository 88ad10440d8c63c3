package forge.storage;

import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedPart;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Uploads an object of known size as its {@link ObjectBody} produces it: bytes fill one part buffer at a time, a
 * full buffer goes up while the next fills, and the SHA-256 of the whole object is computed on the way. The buffers
 * come from a pool of {@link MultipartPut#PARALLEL_PARTS} + 1, so the producer waits when uploads lag and the heap
 * never holds more than {@link #bufferBytes} of the object, whatever its size. On any failure the upload is aborted.
 */
final class StreamingPut {
    private StreamingPut() {
    }

    /** Heap the upload of an object of {@code size} holds at most: one buffer per part in flight, plus the one filling. */
    static long bufferBytes(long size, long configuredPartSize) {
        return (MultipartPut.PARALLEL_PARTS + 1L) * MultipartPut.partSize(size, configuredPartSize);
    }

    static String sha256(byte[] content) {
        MessageDigest d = newDigest();
        return HexFormat.of().formatHex(d.digest(content));
    }

    static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM must provide SHA-256", e);
        }
    }

    /** @return the object's SHA-256, hex */
    static String upload(S3Client s3, S3Uri uri, long size, ObjectBody body, long configuredPartSize, boolean crc32,
                         MultipartPut.Condition condition) {
        long partSize = MultipartPut.partSize(size, configuredPartSize);
        if (partSize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("object " + uri + " of " + size + " bytes needs parts over 2 GiB");
        }
        ChecksumAlgorithm algorithm = crc32 ? ChecksumAlgorithm.CRC32 : null;
        String uploadId = MultipartPut.create(s3, uri, algorithm, condition);
        int slots = MultipartPut.PARALLEL_PARTS;
        ExecutorService pool = MultipartPut.partPool(uri, slots);
        try {
            Parts parts = new Parts(s3, uri, uploadId, (int) partSize, slots + 1, algorithm, pool);
            try {
                body.writeTo(parts);
            } catch (IOException e) {
                throw new UncheckedIOException("producing " + uri + " failed", e);
            }
            parts.finish();
            if (parts.written != size) {
                throw new IllegalStateException(uri + " was announced as " + size + " bytes but its body wrote "
                        + parts.written);
            }
            MultipartPut.complete(s3, uri, uploadId, condition, parts.pending);
            return HexFormat.of().formatHex(parts.digest.digest());
        } catch (RuntimeException e) {
            throw MultipartPut.abort(s3, uri, uploadId, pool, e);
        } finally {
            pool.shutdownNow();
        }
    }

    /** The stream the body writes into: fills pooled part buffers and hands each full one to an upload thread. */
    private static final class Parts extends OutputStream {
        private final S3Client s3;
        private final S3Uri uri;
        private final String uploadId;
        private final int partSize;
        private final ChecksumAlgorithm algorithm;
        private final ExecutorService pool;
        private final BlockingQueue<byte[]> free;
        private final MessageDigest digest;
        final List<Future<CompletedPart>> pending = new ArrayList<>();
        long written;
        /** Buffers not yet allocated: a 40 MiB object does not need five 16 MiB ones. */
        private int buffersLeft;
        private byte[] buffer;
        private int filled;

        Parts(S3Client s3, S3Uri uri, String uploadId, int partSize, int buffers, ChecksumAlgorithm algorithm,
              ExecutorService pool) {
            this.s3 = s3;
            this.uri = uri;
            this.uploadId = uploadId;
            this.partSize = partSize;
            this.algorithm = algorithm;
            this.pool = pool;
            this.free = new ArrayBlockingQueue<>(buffers);
            this.buffersLeft = buffers;
            this.digest = newDigest();
        }

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            digest.update(b, off, len);
            written += len;
            while (len > 0) {
                if (buffer == null) {
                    buffer = take();
                    filled = 0;
                }
                int n = Math.min(len, partSize - filled);
                System.arraycopy(b, off, buffer, filled, n);
                filled += n;
                off += n;
                len -= n;
                if (filled == partSize) {
                    send();
                }
            }
        }

        void finish() {
            if (buffer != null && filled > 0 || pending.isEmpty()) {
                if (buffer == null) {
                    buffer = take();
                    filled = 0;
                }
                send();
            }
        }

        private byte[] take() {
            failFast();
            if (free.isEmpty() && buffersLeft > 0) {
                buffersLeft--;
                return new byte[partSize];
            }
            try {
                return free.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw AbortedException.create("interrupted while waiting for a part upload", e);
            }
        }

        /** A part that failed stops the producer at its next buffer rather than after the whole object. */
        private void failFast() {
            for (Future<CompletedPart> f : pending) {
                if (f.isDone()) {
                    try {
                        f.get(0, TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        MultipartPut.await(f);
                    } catch (Exception e) {
                        throw SdkClientException.create("part upload failed: " + e, e);
                    }
                }
            }
        }

        private void send() {
            byte[] part = buffer;
            int len = filled;
            int number = pending.size() + 1;
            buffer = null;
            filled = 0;
            pending.add(pool.submit(() -> {
                try {
                    return MultipartPut.uploadPart(s3, uri, uploadId, number, part, 0, len, algorithm);
                } finally {
                    free.offer(part);
                }
            }));
        }
    }
}
