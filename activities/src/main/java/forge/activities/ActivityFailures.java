package forge.activities;

import forge.errors.BadInputException;
import forge.storage.StorageUnavailableException;
import forge.workflow.TrainingPipelineImpl;
import io.temporal.failure.ApplicationFailure;

/**
 * How an activity's exception reaches the workflow: bad input as a non-retryable {@code BadInput} whose message names
 * the field or the file and line, an unreachable object store as {@code StorageUnavailable} (retried), anything else
 * unchanged (the workflow counts it as an application error).
 */
final class ActivityFailures {
    private ActivityFailures() {}

    /** @param prefix put before a bad-input message, e.g. {@code "stage sft: "}; may be empty */
    static RuntimeException toTemporal(RuntimeException e, String prefix) {
        BadInputException bad = causeOfType(e, BadInputException.class);
        if (bad != null) {
            return ApplicationFailure.newNonRetryableFailure(prefix + bad.getMessage(), TrainingPipelineImpl.BAD_INPUT);
        }
        StorageUnavailableException unavailable = causeOfType(e, StorageUnavailableException.class);
        if (unavailable != null) {
            // Transient: retried with backoff; the message is what status and the UI show as the last failure.
            return ApplicationFailure.newFailure(unavailable.getMessage(), TrainingPipelineImpl.STORAGE_UNAVAILABLE);
        }
        return e;
    }

    private static <T extends Throwable> T causeOfType(Throwable t, Class<T> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return type.cast(c);
            }
        }
        return null;
    }
}
