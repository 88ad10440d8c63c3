package forge.checkpoint;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;

/**
 * {@code _epochs/epoch-NNNNNNNNN.json}: one attempt's claim on a stage, written once when the attempt starts and never
 * changed. The highest epoch owns the stage; {@code resumedFromStep} says which checkpoints the owner saw, so that a
 * checkpoint an older attempt committed beyond that step is never loaded (see {@link #supersedes}).
 *
 * @param token           random, unique to the attempt: tells two claims of one epoch apart where the endpoint
 *                        cannot refuse the second
 * @param owner           who claimed it (host, process, Temporal attempt), for logs and humans
 * @param resumedFromStep the step of the checkpoint the attempt continued from; 0 for a fresh start, and
 *                        {@link #FROM_FINAL} when it found the stage's {@code final/} already written
 * @param resumedFrom     that checkpoint's directory name, or null
 */
public record EpochRecord(long epoch, String token, String owner, long resumedFromStep, String resumedFrom,
                          String startedAt) {
    public static final long FROM_FINAL = Long.MAX_VALUE;
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public EpochRecord {
        if (epoch < 1) {
            throw new IllegalArgumentException("epoch must be >= 1, got " + epoch);
        }
        if (token == null || token.isBlank()) {
            throw new IllegalArgumentException("epoch " + epoch + " has no token");
        }
        if (resumedFromStep < 0) {
            throw new IllegalArgumentException("epoch " + epoch + " resumed from step " + resumedFromStep);
        }
    }

    static String fileName(long epoch) {
        return String.format("epoch-%09d.json", epoch);
    }

    /**
     * Whether this claim makes a checkpoint unloadable: one written by an older epoch at a step this attempt did not
     * see when it chose where to resume. {@code final/} counts as the step after every other ({@link #FROM_FINAL}).
     */
    boolean supersedes(long checkpointEpoch, long checkpointStep) {
        return epoch > checkpointEpoch && resumedFromStep < checkpointStep;
    }

    String describe() {
        return "epoch " + epoch + " (" + owner + ", started " + startedAt + ", resuming from "
                + (resumedFromStep == FROM_FINAL ? "final/" : resumedFrom == null ? "scratch" : resumedFrom) + ")";
    }

    byte[] toJson() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static EpochRecord parse(byte[] json, String where) {
        try {
            return JSON.readValue(json, EpochRecord.class);
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalStateException("unreadable epoch record " + where + ": " + e.getMessage(), e);
        }
    }
}
