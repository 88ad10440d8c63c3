package forge.storage;

import forge.workflow.SafeNames;

import java.net.URI;
import java.net.URISyntaxException;

/**
 * Where checkpoints live: {@code s3://bucket/prefix/<runId>/<stage>/}. Credentials are deliberately absent: the client
 * uses the AWS default chain (system properties, env vars, web identity / pod identity, profile), so no secret ever
 * travels through workflow inputs or logs.
 *
 * @param endpoint  {@code null} for real AWS; otherwise an http(s) URL such as the embedded S3Proxy's
 * @param region    defaults to us-east-1 (S3Proxy ignores it, but SigV4 needs one)
 * @param pathStyle {@code http://host/bucket/key} instead of {@code http://bucket.host/key}; needed for S3Proxy/MinIO
 * @param prefix    may be empty; leading/trailing slashes are dropped
 */
public record S3Settings(String endpoint, String region, boolean pathStyle, String bucket, String prefix) {
    public static final String DEFAULT_REGION = "us-east-1";

    public S3Settings {
        if (endpoint != null && endpoint.isBlank()) {
            endpoint = null;
        }
        if (endpoint != null) {
            checkEndpoint(endpoint);
            while (endpoint.endsWith("/")) {
                endpoint = endpoint.substring(0, endpoint.length() - 1);
            }
        }
        region = region == null || region.isBlank() ? DEFAULT_REGION : region.trim();
        if (!region.matches("[a-z0-9-]{1,40}")) {
            throw new IllegalArgumentException("invalid S3 region '" + region + "'");
        }
        prefix = prefix == null ? "" : stripSlashes(prefix.trim());
        // Validates bucket and prefix with the same rules every S3Uri obeys.
        new S3Uri(bucket, prefix);
    }

    /** Settings for a local S3-compatible endpoint (S3Proxy, MinIO): path-style, default region. */
    public static S3Settings local(URI endpoint, String bucket, String prefix) {
        return new S3Settings(endpoint.toString(), DEFAULT_REGION, true, bucket, prefix);
    }

    /**
     * The directory of one stage of one run. The CLI and the workflow check both names already; this is the last
     * line of defence, for any caller that did not, so the rule is the same one ({@link SafeNames}).
     */
    public S3Uri stageRoot(String runId, String stage) {
        S3Uri run = runRoot(runId);
        return run.resolve(SafeNames.check(stage, "stage"));
    }

    /** {@code s3://bucket/prefix/<runId>}: where a run's stages, summary and report live. */
    public S3Uri runRoot(String runId) {
        return root().resolve(SafeNames.check(runId, "run id"));
    }

    /** {@code s3://bucket/prefix}. */
    public S3Uri root() {
        return new S3Uri(bucket, prefix);
    }

    /** For messages: the endpoint we actually talk to. */
    public String endpointForDisplay() {
        return endpoint != null ? endpoint : "https://s3." + region + ".amazonaws.com";
    }

    private static void checkEndpoint(String endpoint) {
        URI uri;
        try {
            uri = new URI(endpoint);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("invalid S3 endpoint '" + endpoint + "': " + e.getMessage(), e);
        }
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()) || uri.getHost() == null) {
            throw new IllegalArgumentException("invalid S3 endpoint '" + endpoint + "': expected http(s)://host[:port]");
        }
    }

    private static String stripSlashes(String s) {
        int start = 0;
        int end = s.length();
        while (start < end && s.charAt(start) == '/') {
            start++;
        }
        while (end > start && s.charAt(end - 1) == '/') {
            end--;
        }
        return s.substring(start, end);
    }
}
