package forge.storage;

/**
 * A conditional write lost: the object was not in the state the writer expected ({@code If-None-Match: *} on an object
 * that exists, {@code If-Match} on one that changed). S3 answers 412, or 409 when a concurrent write to the same key
 * was in progress. Someone else wrote that key, so the caller must find out who before it writes again.
 */
public class PreconditionFailedException extends StorageException {
    public PreconditionFailedException(String message, int statusCode, Throwable cause) {
        super(message, statusCode, cause);
    }
}
