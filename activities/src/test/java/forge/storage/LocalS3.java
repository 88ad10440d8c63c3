package forge.storage;

import java.nio.file.Path;

/**
 * Test fixture: an embedded S3Proxy on loopback whose keys the AWS default credentials chain picks up from system
 * properties, exactly as a dev worker would.
 */
public final class LocalS3 {
    public static final String BUCKET = "forge-test";
    public static final String ACCESS_KEY = "forge-test-access";
    public static final String SECRET_KEY = "forge-test-secret-key";

    private LocalS3() {
    }

    public static EmbeddedS3 start(Path dataDir) {
        EmbeddedS3 s3 = EmbeddedS3.start(dataDir, "127.0.0.1", 0, BUCKET, ACCESS_KEY, SECRET_KEY);
        s3.useAsDefaultCredentials();
        return s3;
    }

    /** Low retry count and small multipart sizes so tests exercise the paths quickly. */
    public static S3ClientOptions testOptions() {
        return S3ClientOptions.defaults().withMaxAttempts(2).withMultipart(5L << 20, 5L << 20);
    }
}
