package forge.errors;

/**
 * A problem with what the user gave us — a config field, a data file, a parent checkpoint — that no retry can fix.
 * The message names the field, or the file and line, so the user can fix it without reading a stack trace.
 * Activity glue turns it into a non-retryable Temporal failure.
 */
public class BadInputException extends RuntimeException {
    public BadInputException(String message) {
        super(message);
    }

    public BadInputException(String message, Throwable cause) {
        super(message, cause);
    }

    /** For a config field: {@code field("train.lr", "must be > 0, got -1")}. */
    public static BadInputException field(String field, String problem) {
        return new BadInputException(field + ": " + problem);
    }

    /** For a line of a data file: {@code at("data/a.jsonl", 17, "not valid JSON")}. */
    public static BadInputException at(String file, long line, String problem) {
        return new BadInputException(file + ":" + line + ": " + problem);
    }
}
