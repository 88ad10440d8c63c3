package forge.workflow;

/**
 * A stage's attempts as the workflow counts them; carried across continue-as-new.
 *
 * @param started             attempts started so far
 * @param failuresInARow      failed attempts since the stage last committed a checkpoint (sets the backoff)
 * @param sameErrorInARow     of those, how many ended with {@link #lastErrorKey} in a row (infrastructure failures
 *                            neither count nor break the row)
 * @param lastErrorKey        type and message of the last application error
 * @param lastFailure         the last failure as status shows it
 * @param lostWorkers         attempts whose worker stopped heartbeating
 * @param previousAttemptStep the step the last lost attempt reported, handed to the next one
 * @param nextAttemptAtMillis when the next attempt starts, while waiting to retry
 */
public record StageAttempts(int started, int failuresInARow, int sameErrorInARow, String lastErrorKey,
                            String lastFailure, int lostWorkers, Long previousAttemptStep, Long nextAttemptAtMillis) {
    static final StageAttempts NONE = new StageAttempts(0, 0, 0, null, null, 0, null, null);

    StageAttempts startedOne() {
        return new StageAttempts(started + 1, failuresInARow, sameErrorInARow, lastErrorKey, lastFailure, lostWorkers,
                previousAttemptStep, null);
    }

    /** @param progressed the failed attempt committed a checkpoint first: the rows start again */
    StageAttempts failed(StageFailure f, boolean progressed, long nextAttemptAt) {
        int inARow = progressed ? 1 : failuresInARow + 1;
        int same = sameErrorInARow;
        String key = lastErrorKey;
        if (f.kind() == StageFailure.Kind.APPLICATION) {
            same = !progressed && f.key().equals(lastErrorKey) ? sameErrorInARow + 1 : 1;
            key = f.key();
        } else if (progressed) {
            same = 0;
            key = null;
        }
        Long step = f.lastStep() != null ? f.lastStep() : previousAttemptStep;
        return new StageAttempts(started, inARow, same, key, f.message(),
                lostWorkers + (f.kind() == StageFailure.Kind.LOST_WORKER ? 1 : 0), step, nextAttemptAt);
    }

    /** A stopped attempt (pause, rotation): nothing counts against the stage, but status says what happened. */
    StageAttempts stopped(StageFailure f) {
        Long step = f != null && f.lastStep() != null ? f.lastStep() : previousAttemptStep;
        String failure = f == null || f.kind() == StageFailure.Kind.CANCELED ? lastFailure : f.message();
        return new StageAttempts(started, failuresInARow, sameErrorInARow, lastErrorKey, failure, lostWorkers, step,
                null);
    }

    StageAttempts resumedByUser() {
        return new StageAttempts(started, failuresInARow, sameErrorInARow, lastErrorKey, lastFailure, lostWorkers,
                previousAttemptStep, null);
    }
}
