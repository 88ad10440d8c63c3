package forge.storage;

import forge.data.UriOpener;
import forge.errors.BadInputException;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.model.BucketAlreadyOwnedByYouException;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Object;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The one place that talks to S3. Every failure leaves here as a {@link StorageException} with a readable message;
 * an endpoint nobody answers on becomes {@link StorageUnavailableException}, which callers retry.
 *
 * <p>Listing methods treat an {@link S3Uri} as a directory and return names relative to it. Keys ending in "/" are
 * skipped: S3Proxy's filesystem backend reports its directories as such "marker" objects, and real S3 consoles
 * create them too.
 */
public final class S3Storage implements AutoCloseable, UriOpener {
    private static final int DELETE_BATCH = 1000;
    /** Parts of one object uploaded at once; a streamed upload holds one more buffer, the one filling. */
    public static final int PARTS_IN_FLIGHT = MultipartPut.PARALLEL_PARTS;

    private final S3Settings settings;
    private final S3ClientOptions options;
    private final DefaultCredentialsProvider credentials;
    private final S3Client s3;
    private final AtomicLong multipartUploads = new AtomicLong();
    private volatile boolean batchDeleteUnsupported;
    private volatile Boolean conditionalWrites;

    public S3Storage(S3Settings settings) {
        this(settings, S3ClientOptions.defaults());
    }

    public S3Storage(S3Settings settings, S3ClientOptions options) {
        this.settings = settings;
        this.options = options;
        // Built per instance rather than the shared create() singleton, so close() can release it.
        this.credentials = DefaultCredentialsProvider.builder().build();
        S3ClientBuilder builder = S3Client.builder()
                .httpClientBuilder(httpClient(options))
                .credentialsProvider(credentials)
                .region(Region.of(settings.region()))
                .forcePathStyle(settings.pathStyle())
                .overrideConfiguration(o -> o
                        .retryStrategy(AwsRetryStrategy.standardRetryStrategy().toBuilder()
                                .maxAttempts(options.maxAttempts()).build())
                        .apiCallTimeout(options.apiCallTimeout()));
        if (settings.endpoint() != null) {
            builder.endpointOverride(URI.create(settings.endpoint()))
                    // S3-compatible servers (S3Proxy 3.0, Ceph, older MinIO) reject the SDK's default streaming
                    // CRC trailer with XAmzContentSHA256Mismatch. Nothing is lost for checkpoints: every file's
                    // SHA-256 is in the manifest and checked on load.
                    .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                    .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                    // Over plain http the SDK must sign the payload. Chunk by chunk (its default) made S3Proxy parse
                    // every byte through a one-byte read(), which capped checkpoint uploads at about 70 MiB/s; one
                    // SHA-256 over the whole body is cheaper on both sides. Bodies stay at most one part (16 MiB)
                    // or the multipart threshold, which S3-compatible servers accept unchunked.
                    .serviceConfiguration(S3Configuration.builder().chunkedEncodingEnabled(false).build());
        }
        this.s3 = builder.build();
    }

    // SDK 2.57 deprecates the Apache 4 client in favour of apache5-client; 4.x is still supported and is the one this
    // module declares. Named explicitly so the choice does not hinge on which of the clients the s3 artifact drags
    // onto the classpath (apache5, netty) the SDK happens to find first.
    @SuppressWarnings("deprecation")
    private static ApacheHttpClient.Builder httpClient(S3ClientOptions options) {
        return ApacheHttpClient.builder()
                .connectionTimeout(options.connectTimeout())
                .socketTimeout(options.socketTimeout());
    }

    public S3Settings settings() {
        return settings;
    }

    /** Uploads that went through the multipart path since this instance was built. */
    public long multipartUploads() {
        return multipartUploads.get();
    }

    public void put(S3Uri uri, byte[] content) {
        putConditionally(uri, content, null, null);
    }

    /**
     * Creates the object only if its key is free ({@code If-None-Match: *}). Only meaningful where
     * {@link #conditionalWrites} is true; elsewhere the endpoint may ignore the condition and overwrite.
     *
     * @throws PreconditionFailedException if the key exists. A request the SDK retried after a lost reply can find
     *                                     its own first try there, so callers compare what they find with what they
     *                                     wrote.
     */
    public void putIfAbsent(S3Uri uri, byte[] content) {
        putConditionally(uri, content, "*", null);
    }

    /**
     * Replaces the object only if it still has {@code etag} (as a listing reported it), {@code If-Match}.
     *
     * @throws PreconditionFailedException if someone replaced or deleted it since
     */
    public void putIfMatch(S3Uri uri, byte[] content, String etag) {
        if (etag == null || etag.isBlank()) {
            throw new IllegalArgumentException("putIfMatch needs the ETag the object is expected to have");
        }
        putConditionally(uri, content, null, etag);
    }

    private void putConditionally(S3Uri uri, byte[] content, String ifNoneMatch, String ifMatch) {
        requireObjectKey(uri);
        call("PUT", uri, () -> {
            if (content.length >= options.multipartThreshold()) {
                MultipartPut.upload(s3, uri, content, options.partSize(), settings.endpoint() == null,
                        new MultipartPut.Condition(ifNoneMatch, ifMatch, settings.endpoint() != null));
                multipartUploads.incrementAndGet();
            } else {
                s3.putObject(b -> b.bucket(uri.bucket()).key(uri.key()).ifNoneMatch(ifNoneMatch).ifMatch(ifMatch),
                        RequestBody.fromBytes(content));
            }
            return null;
        });
    }

    /**
     * Uploads an object of {@code size} bytes as {@code body} produces them, multipart from the multipart threshold
     * on, and returns its SHA-256 (hex) computed on the way. The heap holds at most {@link #streamingBufferBytes} of
     * it. Below the threshold the body is buffered and sent in one PUT.
     */
    public String putStreamed(S3Uri uri, long size, ObjectBody body) {
        return putStreamedConditionally(uri, size, body, null, null);
    }

    /** {@link #putStreamed} with {@code If-None-Match: *}, as {@link #putIfAbsent}. */
    public String putStreamedIfAbsent(S3Uri uri, long size, ObjectBody body) {
        return putStreamedConditionally(uri, size, body, "*", null);
    }

    /** {@link #putStreamed} with {@code If-Match}, as {@link #putIfMatch}. */
    public String putStreamedIfMatch(S3Uri uri, long size, ObjectBody body, String etag) {
        if (etag == null || etag.isBlank()) {
            throw new IllegalArgumentException("putIfMatch needs the ETag the object is expected to have");
        }
        return putStreamedConditionally(uri, size, body, null, etag);
    }

    /** The most heap a {@link #putStreamed} of an object of {@code size} bytes holds. */
    public long streamingBufferBytes(long size) {
        return size < options.multipartThreshold() ? size : StreamingPut.bufferBytes(size, options.partSize());
    }

    private String putStreamedConditionally(S3Uri uri, long size, ObjectBody body, String ifNoneMatch,
                                            String ifMatch) {
        requireObjectKey(uri);
        if (size < 0) {
            throw new IllegalArgumentException("object " + uri + " has negative size " + size);
        }
        if (size < options.multipartThreshold()) {
            byte[] content = new byte[(int) size];
            FixedArrayOutput out = new FixedArrayOutput(content, uri);
            try {
                body.writeTo(out);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("producing " + uri + " failed", e);
            }
            if (out.position != size) {
                throw new IllegalStateException(uri + " was announced as " + size + " bytes but its body wrote "
                        + out.position);
            }
            putConditionally(uri, content, ifNoneMatch, ifMatch);
            return StreamingPut.sha256(content);
        }
        String sha = call("PUT", uri, () -> StreamingPut.upload(s3, uri, size, body, options.partSize(),
                settings.endpoint() == null, new MultipartPut.Condition(ifNoneMatch, ifMatch,
                        settings.endpoint() != null)));
        multipartUploads.incrementAndGet();
        return sha;
    }

    /** Writes into an array of the announced size; more bytes than announced is the producer's bug. */
    private static final class FixedArrayOutput extends java.io.OutputStream {
        private final byte[] into;
        private final S3Uri uri;
        int position;

        FixedArrayOutput(byte[] into, S3Uri uri) {
            this.into = into;
            this.uri = uri;
        }

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            if (len > into.length - position) {
                throw new IllegalStateException(uri + " was announced as " + into.length + " bytes but its body"
                        + " wrote more");
            }
            System.arraycopy(b, off, into, position, len);
            position += len;
        }
    }

    /**
     * The object as a stream, to read once and close; {@link ObjectNotFoundException} when absent. A body that
     * breaks off surfaces as an IOException from the stream (the SDK does not retry a stream handed out).
     */
    public InputStream getStream(S3Uri uri) {
        requireObjectKey(uri);
        return call("GET", uri, () -> s3.getObject(b -> b.bucket(uri.bucket()).key(uri.key())));
    }

    /**
     * Whether this endpoint enforces {@code If-None-Match: *} on PUT (AWS S3 since 2024, MinIO, S3Proxy 3.0 — the
     * last checks and then writes, so not atomically). Probed once per instance: a scratch object below
     * {@code scratchDir} is created twice, and the second try must be refused; then it is deleted.
     * {@link S3ClientOptions#conditionalWrites()} false skips the probe and answers false.
     */
    public boolean conditionalWrites(S3Uri scratchDir) {
        Boolean known = conditionalWrites;
        if (known != null) {
            return known;
        }
        synchronized (this) {
            if (conditionalWrites == null) {
                conditionalWrites = options.conditionalWrites() && probeConditionalWrites(scratchDir);
            }
            return conditionalWrites;
        }
    }

    private boolean probeConditionalWrites(S3Uri scratchDir) {
        S3Uri probe = scratchDir.resolve("probe-" + java.util.UUID.randomUUID());
        byte[] body = "conditional write probe".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        try {
            putIfAbsent(probe, body);
            try {
                putIfAbsent(probe, body);
                return false; // the condition was ignored: the object was overwritten
            } catch (PreconditionFailedException e) {
                return true;
            } catch (StorageException e) {
                if (e.statusCode() == 400 || e.statusCode() == 501) {
                    return false; // NotImplemented / a header the endpoint refuses
                }
                throw e;
            }
        } catch (PreconditionFailedException e) {
            return true; // a retried first request met its own first try
        } catch (StorageException e) {
            if (e.statusCode() == 400 || e.statusCode() == 501) {
                return false;
            }
            throw e;
        } finally {
            try {
                delete(probe);
            } catch (StorageException e) {
                // A stray probe object costs nothing; the answer stands.
            }
        }
    }

    /** The whole object; {@link ObjectNotFoundException} when absent. */
    public byte[] get(S3Uri uri) {
        requireObjectKey(uri);
        return call("GET", uri, () -> s3.getObject(b -> b.bucket(uri.bucket()).key(uri.key()),
                S3Storage::readExactly));
    }

    /**
     * Straight into an array of the object's size. getObjectAsBytes grows a buffer and copies it, which took a third
     * of a checkpoint download's CPU and twice its memory. A transformer, like toBytes(), so the SDK still retries an
     * object whose body breaks off.
     */
    private static byte[] readExactly(GetObjectResponse response, InputStream in) throws IOException {
        Long length = response.contentLength();
        if (length == null || length > Integer.MAX_VALUE - 8) {
            return in.readAllBytes();
        }
        byte[] out = new byte[(int) (long) length];
        int n = in.readNBytes(out, 0, out.length);
        if (n != out.length) {
            throw new IOException("body ended after " + n + " of " + length + " bytes");
        }
        return out;
    }

    public Optional<byte[]> getIfExists(S3Uri uri) {
        try {
            return Optional.of(get(uri));
        } catch (ObjectNotFoundException e) {
            return Optional.empty();
        }
    }

    /** Streams an object named by a user-facing URI; a missing object is a {@link FileNotFoundException}. */
    @Override
    public InputStream open(String uri) throws FileNotFoundException {
        S3Uri parsed = S3Uri.parse(uri);
        if (parsed.key().isEmpty()) {
            throw new BadInputException("'" + uri + "' names a bucket, not an object");
        }
        try {
            return call("GET", parsed, () -> s3.getObject(b -> b.bucket(parsed.bucket()).key(parsed.key())));
        } catch (ObjectNotFoundException e) {
            FileNotFoundException fnf = new FileNotFoundException(parsed + " does not exist");
            fnf.initCause(e);
            throw fnf;
        }
    }

    /** Every object below {@code dir}, recursively, as names relative to it, sorted. */
    public List<String> list(S3Uri dir) {
        return listWithSizes(dir).stream().map(StoredObject::name).toList();
    }

    /** Like {@link #list} with sizes and ETags, so callers can check completeness without a HEAD per object. */
    public List<StoredObject> listWithSizes(S3Uri dir) {
        String prefix = dir.dirPrefix();
        List<StoredObject> out = new ArrayList<>();
        for (S3Object o : rawList(dir, false)) {
            String name = o.key().substring(prefix.length());
            if (!name.isEmpty() && !name.endsWith("/")) {
                out.add(new StoredObject(name, o.size(), o.eTag()));
            }
        }
        out.sort(Comparator.comparing(StoredObject::name));
        return out;
    }

    /** Names of the immediate sub-directories of {@code dir} (common prefixes under '/'), sorted. */
    public List<String> listDirectories(S3Uri dir) {
        String prefix = dir.dirPrefix();
        ListObjectsV2Request request = ListObjectsV2Request.builder()
                .bucket(dir.bucket()).prefix(prefix).delimiter("/").build();
        return call("LIST", dir, () -> {
            TreeSet<String> names = new TreeSet<>();
            for (ListObjectsV2Response page : s3.listObjectsV2Paginator(request)) {
                for (CommonPrefix p : page.commonPrefixes()) {
                    String name = p.prefix().substring(prefix.length());
                    name = name.endsWith("/") ? name.substring(0, name.length() - 1) : name;
                    if (!name.isEmpty()) {
                        names.add(name);
                    }
                }
                // Some backends report an empty directory as a "name/" object instead of a common prefix.
                for (S3Object o : page.contents()) {
                    String name = o.key().substring(prefix.length());
                    if (name.endsWith("/") && name.indexOf('/') == name.length() - 1) {
                        names.add(name.substring(0, name.length() - 1));
                    }
                }
            }
            return List.copyOf(names);
        });
    }

    public boolean exists(S3Uri uri) {
        requireObjectKey(uri);
        try {
            call("HEAD", uri, () -> s3.headObject(b -> b.bucket(uri.bucket()).key(uri.key())));
            return true;
        } catch (ObjectNotFoundException e) {
            return false;
        }
    }

    /** Deleting an absent object is not an error, as on S3 itself. */
    public void delete(S3Uri uri) {
        requireObjectKey(uri);
        call("DELETE", uri, () -> s3.deleteObject(b -> b.bucket(uri.bucket()).key(uri.key())));
    }

    /** Deletes everything below {@code dir} (directory markers included); returns how many keys were removed. */
    public int deleteAll(S3Uri dir) {
        if (dir.key().isEmpty()) {
            throw new IllegalArgumentException("refusing to delete a whole bucket: " + dir);
        }
        // Deepest keys first, so a filesystem backend can drop directories after their contents.
        List<String> keys = rawList(dir, true).stream().map(S3Object::key)
                .sorted(Comparator.comparingInt(String::length).reversed().thenComparing(Comparator.naturalOrder()))
                .toList();
        for (int i = 0; i < keys.size(); i += DELETE_BATCH) {
            List<String> batch = keys.subList(i, Math.min(keys.size(), i + DELETE_BATCH));
            if (batchDeleteUnsupported) {
                batch.forEach(k -> deleteRawKey(dir, k));
                continue;
            }
            try {
                deleteBatch(dir, batch);
            } catch (StorageException e) {
                if (e.statusCode() != 501) {
                    throw e;
                }
                // Some S3-compatible servers (GCS interop, older gateways) lack multi-object delete.
                batchDeleteUnsupported = true;
                batch.forEach(k -> deleteRawKey(dir, k));
            }
        }
        return keys.size();
    }

    private void deleteBatch(S3Uri dir, List<String> keys) {
        List<ObjectIdentifier> ids = keys.stream().map(k -> ObjectIdentifier.builder().key(k).build()).toList();
        DeleteObjectsResponse r = call("DELETE", dir, () -> s3.deleteObjects(b -> b.bucket(dir.bucket())
                .delete(d -> d.objects(ids).quiet(true))));
        if (r.hasErrors() && !r.errors().isEmpty()) {
            var first = r.errors().get(0);
            throw new StorageException("DELETE below " + dir + " failed for " + r.errors().size()
                    + " keys, first s3://" + dir.bucket() + "/" + first.key() + ": " + first.code() + " "
                    + first.message(), 0, null);
        }
    }

    /** Raw, because a directory marker's key ends in "/" and has no S3Uri spelling. */
    private void deleteRawKey(S3Uri dir, String key) {
        call("DELETE", dir, () -> s3.deleteObject(b -> b.bucket(dir.bucket()).key(key)));
    }

    /** Creates the settings' bucket unless it exists; for the embedded endpoint and first runs. */
    public void ensureBucket() {
        S3Uri bucket = new S3Uri(settings.bucket(), "");
        try {
            call("HEAD bucket", bucket, () -> s3.headBucket(b -> b.bucket(settings.bucket())));
            return;
        } catch (StorageException e) {
            if (e.statusCode() != 404) {
                throw e;
            }
        }
        try {
            call("CREATE bucket", bucket, () -> s3.createBucket(b -> b.bucket(settings.bucket())));
        } catch (StorageException e) {
            if (!(e.getCause() instanceof BucketAlreadyOwnedByYouException)) {
                throw e;
            }
        }
    }

    @Override
    public void close() {
        s3.close();
        credentials.close();
    }

    private List<S3Object> rawList(S3Uri dir, boolean includeMarkers) {
        String prefix = dir.dirPrefix();
        ListObjectsV2Request request = ListObjectsV2Request.builder().bucket(dir.bucket()).prefix(prefix).build();
        return call("LIST", dir, () -> {
            List<S3Object> out = new ArrayList<>();
            for (S3Object o : s3.listObjectsV2Paginator(request).contents()) {
                if (includeMarkers || !o.key().endsWith("/")) {
                    out.add(o);
                }
            }
            return out;
        });
    }

    private <T> T call(String operation, S3Uri target, Supplier<T> request) {
        try {
            return request.get();
        } catch (SdkException e) {
            throw S3Errors.translate(e, operation, target, settings.endpointForDisplay(), options.maxAttempts());
        }
    }

    private static void requireObjectKey(S3Uri uri) {
        if (uri.key().isEmpty()) {
            throw new IllegalArgumentException("expected an object, got the bucket root " + uri);
        }
    }
}
