package forge.checkpoint;

/** What reading one checkpoint directory found. */
sealed interface Verification {
    /** Nothing is stored under the directory (or only an empty directory marker). */
    record Absent() implements Verification {
    }

    /** Something is there but must not be loaded; {@code reason} is one line for a WARN or an error message. */
    record Invalid(String reason) implements Verification {
    }

    record Valid(LoadedCheckpoint checkpoint) implements Verification {
    }
}
