package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Duration;
import java.util.Iterator;
import java.util.Set;

/**
 * How the workflow retries a stage (spec key {@code retry}). Every attempt is one activity execution; the workflow
 * itself waits between them, so {@code status} can show the attempt, the last failure and when the next one starts.
 * Infrastructure failures (a lost worker, storage unavailable, a worker shut down) retry for as long as it takes;
 * the same application error {@link #maxSameError} times in a row with no checkpoint committed in between stops the
 * stage as FAILED with that error.
 *
 * @param initialInterval wait before the first retry; doubles ({@link #backoffCoefficient}) with each failure in a
 *                        row, up to {@link #maxInterval}
 */
public record StageRetry(Duration initialInterval, Duration maxInterval, double backoffCoefficient, int maxSameError) {
    private static final Set<String> KEYS = Set.of("initial_interval_seconds", "max_interval_seconds",
            "backoff_coefficient", "max_same_error");

    public static final StageRetry DEFAULT = new StageRetry(Duration.ofSeconds(10), Duration.ofMinutes(10), 2.0, 5);

    public StageRetry {
        if (initialInterval.isNegative() || initialInterval.isZero()) {
            throw new IllegalArgumentException("initial_interval_seconds: must be > 0");
        }
        if (maxInterval.compareTo(initialInterval) < 0) {
            throw new IllegalArgumentException("max_interval_seconds: must be >= initial_interval_seconds ("
                    + initialInterval.toSeconds() + ")");
        }
        if (!(backoffCoefficient >= 1.0) || Double.isInfinite(backoffCoefficient)) {
            throw new IllegalArgumentException("backoff_coefficient: must be a finite number >= 1, got " + backoffCoefficient);
        }
        if (maxSameError < 1) {
            throw new IllegalArgumentException("max_same_error: must be >= 1, got " + maxSameError);
        }
    }

    /** The wait before the next attempt after {@code failuresInARow} failures (1 = the first). */
    public Duration backoff(int failuresInARow) {
        double seconds = initialInterval.toMillis() / 1000.0;
        for (int i = 1; i < failuresInARow && seconds < maxInterval.toSeconds(); i++) {
            seconds *= backoffCoefficient;
        }
        long millis = (long) Math.min(seconds * 1000, maxInterval.toMillis());
        return Duration.ofMillis(millis);
    }

    /** @param field the key's full name for messages, e.g. {@code stages.pretrain.retry} */
    static StageRetry parse(JsonNode node, String field) {
        if (node == null || node.isNull()) {
            return DEFAULT;
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException(field + ": expected an object with " + KEYS);
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException(field + "." + key + ": unknown key; expected one of " + KEYS);
            }
        }
        try {
            return new StageRetry(
                    Duration.ofMillis(Math.round(1000 * SpecNumbers.positive(node, "initial_interval_seconds",
                            DEFAULT.initialInterval.toSeconds(), field))),
                    Duration.ofMillis(Math.round(1000 * SpecNumbers.positive(node, "max_interval_seconds",
                            DEFAULT.maxInterval.toSeconds(), field))),
                    SpecNumbers.positive(node, "backoff_coefficient", DEFAULT.backoffCoefficient, field),
                    (int) SpecNumbers.positiveInteger(node, "max_same_error", DEFAULT.maxSameError, field));
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith(field) ? e : new IllegalArgumentException(field + "." + e.getMessage(), e);
        }
    }
}
