package forge.checkpoint;

import forge.storage.Segments;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Directory names inside a stage root. Zero-padded so a plain listing also sorts by step. */
final class CheckpointNames {
    static final String FINAL = "final";
    private static final Pattern STEP = Pattern.compile("step-(\\d{9,18})");

    private CheckpointNames() {
    }

    static String stepDir(long step) {
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step);
        }
        return String.format("step-%09d", step);
    }

    /** The step of a step directory, -1 for anything else. */
    static long parseStep(String dirName) {
        Matcher m = STEP.matcher(dirName);
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    static String checkDirName(String dirName) {
        return Segments.checkName(dirName, "checkpoint directory name");
    }
}
