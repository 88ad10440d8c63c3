package forge.checkpoint;

/**
 * This attempt of a stage has been replaced: a newer attempt claimed a higher epoch for the same stage root. The old
 * attempt must stop at once without writing anything more; whatever it commits from here on is ignored by readers
 * (docs/fencing.md). Not a storage fault, so nothing retries it.
 */
public class AttemptReplacedException extends RuntimeException {
    public AttemptReplacedException(String message) {
        super(message);
    }
}
