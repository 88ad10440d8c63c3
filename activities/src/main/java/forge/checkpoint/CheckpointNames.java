package forge.checkpoint;

import forge.storage.Segments;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Directory names inside a stage root. A step checkpoint is {@code step-NNNNNNNNN-eEEEEEE}: the step, then the epoch
 * of the attempt that wrote it (docs/fencing.md), so that two attempts never write the same key and a listing sorts by
 * step. {@code step-NNNNNNNNN} alone, as written before epochs existed, reads as epoch 0. Both are zero-padded.
 */
final class CheckpointNames {
    static final String FINAL = "final";
    /** Where the attempts' epoch records live; not a checkpoint. */
    static final String EPOCHS = "_epochs";
    private static final Pattern STEP = Pattern.compile("step-(\\d{9,18})(?:-e(\\d{6,18}))?");

    private CheckpointNames() {
    }

    /** The name a caller asks for ("the checkpoint of step N"); the store adds its epoch when it commits. */
    static String stepDir(long step) {
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step);
        }
        return String.format("step-%09d", step);
    }

    static String stepDir(long step, long epoch) {
        if (epoch < 1) {
            throw new IllegalArgumentException("epoch must be >= 1, got " + epoch);
        }
        return stepDir(step) + String.format("-e%06d", epoch);
    }

    /** The step of a step directory, -1 for anything else. */
    static long parseStep(String dirName) {
        Matcher m = STEP.matcher(dirName);
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** The epoch of a step directory: 0 for one without (older layout), -1 for a name that is no step directory. */
    static long parseEpoch(String dirName) {
        Matcher m = STEP.matcher(dirName);
        if (!m.matches()) {
            return -1;
        }
        return m.group(2) == null ? 0 : Long.parseLong(m.group(2));
    }

    static String checkDirName(String dirName) {
        return Segments.checkName(dirName, "checkpoint directory name");
    }
}
