package forge.storage;

import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.exception.SdkServiceException;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Exception;

import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;

/**
 * Turns SDK exceptions into one-line messages. SDK messages embed retry histories and nested causes; a user reading a
 * failed stage needs "which endpoint, which object, what status".
 */
final class S3Errors {
    private S3Errors() {
    }

    static RuntimeException translate(SdkException e, String operation, Object target, String endpoint,
                                      int maxAttempts) {
        if (e instanceof NoSuchKeyException nsk) {
            return new ObjectNotFoundException(target + " does not exist", nsk);
        }
        if (e instanceof SdkServiceException service) {
            if (service.statusCode() == 404 && !(e instanceof S3Exception s3e && isBucketMissing(s3e))) {
                return new ObjectNotFoundException(target + " does not exist", e);
            }
            if (service.statusCode() == 412 || service.statusCode() == 409 && isConditionalConflict(service)) {
                return new PreconditionFailedException(operation + " " + target + " lost a conditional write: HTTP "
                        + service.statusCode() + errorCode(service) + " from " + endpoint, service.statusCode(), e);
            }
            return new StorageException(operation + " " + target + " failed: HTTP " + service.statusCode()
                    + errorCode(service) + " from " + endpoint, service.statusCode(), e);
        }
        String message = e.getMessage() == null ? "" : e.getMessage();
        if (message.startsWith("Unable to load credentials")) {
            // Checked before reachability: the chain's last provider probes the instance metadata endpoint and its
            // connect failure would otherwise read as "S3 unreachable".
            return new StorageException(operation + " " + target + " failed: no AWS credentials found (set"
                    + " AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, aws.accessKeyId/aws.secretAccessKey, a profile"
                    + " or pod identity)", 0, e);
        }
        String unreachable = unreachableReason(e);
        if (unreachable != null) {
            return new StorageUnavailableException("S3 endpoint " + endpoint + " unreachable: " + unreachable
                    + " (after " + attempts(e, maxAttempts) + " attempt" + (maxAttempts == 1 ? "" : "s") + ")", e);
        }
        return new StorageException(operation + " " + target + " failed: " + firstLine(rootMessage(e)), 0, e);
    }

    /** S3's 409 for a conditional write that raced another write of the same key (not, say, BucketNotEmpty). */
    private static boolean isConditionalConflict(SdkServiceException e) {
        return e instanceof S3Exception s3e && s3e.awsErrorDetails() != null
                && "ConditionalRequestConflict".equals(s3e.awsErrorDetails().errorCode());
    }

    private static boolean isBucketMissing(S3Exception e) {
        return e.awsErrorDetails() != null && "NoSuchBucket".equals(e.awsErrorDetails().errorCode());
    }

    private static String errorCode(SdkServiceException e) {
        if (e instanceof S3Exception s3e && s3e.awsErrorDetails() != null) {
            String code = s3e.awsErrorDetails().errorCode();
            String msg = s3e.awsErrorDetails().errorMessage();
            StringBuilder sb = new StringBuilder();
            if (code != null && !code.isBlank()) {
                sb.append(' ').append(code);
            }
            if (msg != null && !msg.isBlank()) {
                sb.append(" (").append(firstLine(msg)).append(')');
            }
            return sb.toString();
        }
        return "";
    }

    /** Non-null when the failure means "nobody answered", which is worth retrying later. */
    static String unreachableReason(Throwable e) {
        if (e instanceof ApiCallTimeoutException || e instanceof ApiCallAttemptTimeoutException) {
            return "no response within the API call timeout";
        }
        if (!(e instanceof SdkClientException)) {
            return null;
        }
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ConnectException) {
                return describe(t, "connection refused");
            }
            if (t instanceof NoRouteToHostException) {
                return describe(t, "no route to host");
            }
            if (t instanceof UnknownHostException) {
                return "unknown host " + t.getMessage();
            }
            if (t instanceof SocketTimeoutException || t.getClass().getSimpleName().equals("ConnectTimeoutException")) {
                return describe(t, "timed out");
            }
        }
        return null;
    }

    private static String describe(Throwable t, String fallback) {
        String m = t.getMessage();
        if (m == null || m.isBlank()) {
            return fallback;
        }
        // Apache's HttpHostConnectException says "Connect to host:port [/ip] failed: Connection refused"; keep the tail.
        int colon = m.lastIndexOf(": ");
        return firstLine(colon >= 0 ? m.substring(colon + 2) : m);
    }

    /** The SDK records each failed retry as a suppressed exception on the final one. */
    private static int attempts(SdkException e, int maxAttempts) {
        int suppressed = e.getSuppressed().length;
        return suppressed > 0 ? Math.min(suppressed + 1, maxAttempts) : maxAttempts;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String m = t.getMessage();
        return m == null ? t.getClass().getSimpleName() : m;
    }

    static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
