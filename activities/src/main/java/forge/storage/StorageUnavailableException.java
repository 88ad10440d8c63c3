package forge.storage;

/**
 * The S3 endpoint could not be reached at all (connection refused, timeout, unknown host) even after the SDK's own
 * retries. Unlike other storage errors this says nothing about the request: the caller should retry later, e.g. let
 * Temporal retry the activity.
 */
public class StorageUnavailableException extends StorageException {
    public StorageUnavailableException(String message, Throwable cause) {
        super(message, 0, cause);
    }
}
