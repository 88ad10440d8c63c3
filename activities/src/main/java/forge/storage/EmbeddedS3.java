package forge.storage;

import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStoreContext;
import org.jclouds.filesystem.reference.FilesystemConstants;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;

/**
 * S3Proxy in this JVM, storing objects as plain files under a directory: the real S3 protocol (SigV4, multipart) for
 * {@code ./forge dev}, the demo and tests, without Docker. Objects survive restarts over the same directory; each
 * bucket is a sub-directory and each key a file path below it.
 */
public final class EmbeddedS3 implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private final S3Proxy proxy;
    private final BlobStoreContext context;
    private final URI endpoint;
    private final String bucket;
    private final String accessKey;
    private final String secretKey;
    private final Path dataDir;

    private EmbeddedS3(S3Proxy proxy, BlobStoreContext context, URI endpoint, String bucket, String accessKey,
                       String secretKey, Path dataDir) {
        this.proxy = proxy;
        this.context = context;
        this.endpoint = endpoint;
        this.bucket = bucket;
        this.accessKey = accessKey;
        this.secretKey = secretKey;
        this.dataDir = dataDir;
    }

    /**
     * Starts S3Proxy on {@code host:port} ({@code port} 0 picks a free one) and creates {@code bucket}.
     * Clients must sign with {@code accessKey}/{@code secretKey} (SigV2 or SigV4).
     */
    public static EmbeddedS3 start(Path dataDir, String host, int port, String bucket, String accessKey,
                                   String secretKey) {
        return start(dataDir, host, port, bucket, accessKey, secretKey, true);
    }

    /** {@code lenient = false} keeps S3Proxy's stock strictness, so tests can see how clients cope with it. */
    static EmbeddedS3 start(Path dataDir, String host, int port, String bucket, String accessKey,
                            String secretKey, boolean lenient) {
        new S3Uri(bucket, "");
        if (accessKey == null || accessKey.isBlank() || secretKey == null || secretKey.isBlank()) {
            throw new IllegalArgumentException("embedded S3 needs a non-blank access key and secret key");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
        }
        Path dir = dataDir.toAbsolutePath();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IllegalStateException("cannot create embedded S3 data directory " + dir + ": " + e, e);
        }
        Properties props = new Properties();
        props.setProperty(FilesystemConstants.PROPERTY_BASEDIR, dir.toString());
        BlobStoreContext context = ContextBuilder.newBuilder("filesystem")
                .credentials(accessKey, secretKey)
                .overrides(props)
                .build(BlobStoreContext.class);
        S3Proxy proxy = null;
        try {
            proxy = S3Proxy.builder()
                    .blobStore(context.getBlobStore())
                    .endpoint(URI.create("http://" + host + ":" + port))
                    .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, accessKey, secretKey)
                    // The SDK sends checksum headers S3Proxy 3.0 does not know (x-amz-checksum-crc32 on
                    // DeleteObjects); without this it answers 501 instead of ignoring them.
                    .ignoreUnknownHeaders(lenient)
                    .build();
            proxy.start();
            awaitStarted(proxy);
            URI endpoint = URI.create("http://" + host + ":" + proxy.getPort());
            context.getBlobStore().createContainerInLocation(null, bucket);
            return new EmbeddedS3(proxy, context, endpoint, bucket, accessKey, secretKey, dir);
        } catch (Exception e) {
            stopQuietly(proxy, e);
            context.close();
            throw new IllegalStateException("cannot start embedded S3 on " + host + ":" + port + " over " + dir
                    + ": " + e.getMessage(), e);
        }
    }

    private static void awaitStarted(S3Proxy proxy) throws InterruptedException {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (!"STARTED".equals(proxy.getState())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("S3Proxy did not start within " + START_TIMEOUT.toSeconds()
                        + " s (state " + proxy.getState() + ")");
            }
            Thread.sleep(5);
        }
    }

    public URI endpoint() {
        return endpoint;
    }

    public String bucket() {
        return bucket;
    }

    public String accessKey() {
        return accessKey;
    }

    public String secretKey() {
        return secretKey;
    }

    /** Where the bucket's objects lie on disk: key {@code a/b} is the file {@code bucketDir().resolve("a/b")}. */
    public Path bucketDir() {
        return dataDir.resolve(bucket);
    }

    /** Settings pointing at this endpoint: path-style, default region. */
    public S3Settings settings(String prefix) {
        return S3Settings.local(endpoint, bucket, prefix);
    }

    /**
     * Sets the JVM-wide system properties the AWS default credentials chain reads first, so any client in this
     * process (including the ones Temporal activities build) signs with this endpoint's keys. Only for dev/demo/tests,
     * where this endpoint is the only S3 the process talks to.
     */
    public void useAsDefaultCredentials() {
        System.setProperty("aws.accessKeyId", accessKey);
        System.setProperty("aws.secretAccessKey", secretKey);
    }

    @Override
    public void close() {
        try {
            stopQuietly(proxy, null);
        } finally {
            context.close();
        }
    }

    private static void stopQuietly(S3Proxy proxy, Exception primary) {
        if (proxy == null) {
            return;
        }
        try {
            proxy.stop();
        } catch (Exception e) {
            if (primary != null) {
                primary.addSuppressed(e);
            } else {
                throw new IllegalStateException("cannot stop embedded S3: " + e.getMessage(), e);
            }
        }
    }
}
