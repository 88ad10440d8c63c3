package forge.storage;

import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

import java.io.ByteArrayInputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Uploads one in-memory object in parts. Each part is its own API call, so a retry re-sends at most one part and the
 * per-call timeout bounds a part rather than a multi-GiB object. On any failure the upload is aborted so no orphaned
 * parts keep costing storage.
 */
final class MultipartPut {
    private MultipartPut() {
    }

    static void upload(S3Client s3, S3Uri uri, byte[] data, long configuredPartSize, boolean crc32) {
        long partSize = Math.max(configuredPartSize,
                (data.length + S3ClientOptions.MAX_PARTS - 1L) / S3ClientOptions.MAX_PARTS);
        // On AWS: CRC32 declared on create, parts and complete, which is what S3 expects once the SDK adds part
        // checksums. Elsewhere none, since S3-compatible servers often reject checksum trailers.
        ChecksumAlgorithm algorithm = crc32 ? ChecksumAlgorithm.CRC32 : null;
        String uploadId = s3.createMultipartUpload(b -> b.bucket(uri.bucket()).key(uri.key())
                .checksumAlgorithm(algorithm)).uploadId();
        try {
            List<CompletedPart> parts = new ArrayList<>();
            int partNumber = 1;
            for (long offset = 0; offset < data.length; offset += partSize, partNumber++) {
                int off = (int) offset;
                int len = (int) Math.min(partSize, data.length - offset);
                int number = partNumber;
                UploadPartResponse r = s3.uploadPart(b -> b.bucket(uri.bucket()).key(uri.key())
                                .uploadId(uploadId).partNumber(number).contentLength((long) len)
                                .checksumAlgorithm(algorithm),
                        // A provider, not fromBytes: no copy of the part, and a fresh stream for every retry.
                        RequestBody.fromContentProvider(() -> new ByteArrayInputStream(data, off, len), len,
                                "application/octet-stream"));
                parts.add(CompletedPart.builder().partNumber(number).eTag(r.eTag())
                        .checksumCRC32(r.checksumCRC32()).build());
            }
            s3.completeMultipartUpload(b -> b.bucket(uri.bucket()).key(uri.key()).uploadId(uploadId)
                    .multipartUpload(m -> m.parts(parts)));
        } catch (RuntimeException e) {
            try {
                s3.abortMultipartUpload(b -> b.bucket(uri.bucket()).key(uri.key()).uploadId(uploadId));
            } catch (RuntimeException abortFailure) {
                e.addSuppressed(abortFailure);
            }
            throw e;
        }
    }
}
