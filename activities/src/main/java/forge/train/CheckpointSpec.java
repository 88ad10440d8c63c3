package forge.train;

import forge.errors.BadInputException;

/**
 * A checkpoint is due every {@code intervalSteps} steps or {@code intervalSeconds} of wall time, whichever comes
 * first: the time bound is what limits the work a dead pod can cost.
 */
public record CheckpointSpec(int intervalSteps, double intervalSeconds, int keepLast) {
    public CheckpointSpec {
        if (intervalSteps <= 0) throw BadInputException.field("checkpoint.interval_steps", "must be > 0, got " + intervalSteps);
        if (intervalSeconds <= 0) throw BadInputException.field("checkpoint.interval_seconds", "must be > 0, got " + intervalSeconds);
        if (keepLast < 2) throw BadInputException.field("checkpoint.keep_last", "must be >= 2 so a torn newest checkpoint never leaves none, got " + keepLast);
    }
}
