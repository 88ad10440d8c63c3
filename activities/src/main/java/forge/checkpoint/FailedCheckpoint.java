package forge.checkpoint;

/**
 * A background checkpoint that did not commit. Nothing of it is trusted (its manifest was never written), so the
 * previous commit is still the newest valid checkpoint.
 */
public record FailedCheckpoint(String dirName, long step, Throwable cause) {
    /** One line: which checkpoint and why. */
    public String describe() {
        String why = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
        return "checkpoint " + dirName + " (step " + step + ") failed: " + why;
    }
}
