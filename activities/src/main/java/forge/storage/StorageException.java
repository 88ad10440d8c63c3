package forge.storage;

/**
 * An S3 request failed for a reason the service reported (403, 500, ...). The message names the operation, the
 * object and the HTTP status, so it reads well in a Temporal failure without the stack trace.
 */
public class StorageException extends RuntimeException {
    private final int statusCode;

    public StorageException(String message, int statusCode, Throwable cause) {
        super(message, cause);
        this.statusCode = statusCode;
    }

    /** HTTP status from S3, or 0 when no response arrived. */
    public int statusCode() {
        return statusCode;
    }
}
