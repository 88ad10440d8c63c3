package forge.checkpoint;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TEST HOOK, not a setting: makes {@link CheckpointStore#commit} sleep at a point where a crash leaves a torn
 * checkpoint, so that a test can SIGKILL a worker process inside that window rather than hoping to hit a few
 * milliseconds by chance ({@code RandomKillTrialsTest}). Read once, from the environment variable or else the system
 * property:
 * <ul>
 *   <li>{@code FORGE_TEST_PAUSE_DURING_UPLOAD_MS} / {@code forge.test.pauseDuringUploadMs}: after the first file of
 *       every commit is uploaded, before the others;</li>
 *   <li>{@code FORGE_TEST_PAUSE_BEFORE_MANIFEST_MS} / {@code forge.test.pauseBeforeManifestMs}: after the last file,
 *       before MANIFEST.json.</li>
 * </ul>
 * Unset (the only sane production value) both are 0 and commit does nothing extra. Tests in the same JVM use
 * {@link #override} instead.
 */
public final class CommitPauses {
    private static final Logger log = LoggerFactory.getLogger(CommitPauses.class);

    static volatile long duringUploadMs = read("FORGE_TEST_PAUSE_DURING_UPLOAD_MS", "forge.test.pauseDuringUploadMs");
    static volatile long beforeManifestMs = read("FORGE_TEST_PAUSE_BEFORE_MANIFEST_MS",
            "forge.test.pauseBeforeManifestMs");

    private CommitPauses() {}

    /**
     * For tests in this JVM: the same pauses without an environment variable, until the returned handle is closed
     * (which restores what was there before).
     */
    public static AutoCloseable override(long duringUpload, long beforeManifest) {
        long during = duringUploadMs;
        long before = beforeManifestMs;
        duringUploadMs = Math.max(0, duringUpload);
        beforeManifestMs = Math.max(0, beforeManifest);
        return () -> {
            duringUploadMs = during;
            beforeManifestMs = before;
        };
    }

    static void pause(long millis, String where) {
        // A WARN, so that a worker that somehow runs with the hook set says so in its console log.
        log.warn("test hook: pausing {} ms {}", millis, where);
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static long read(String env, String property) {
        String v = System.getenv(env);
        if (v == null || v.isBlank()) {
            v = System.getProperty(property);
        }
        if (v == null || v.isBlank()) {
            return 0;
        }
        try {
            return Math.max(0, Long.parseLong(v.trim()));
        } catch (NumberFormatException e) {
            log.warn("ignoring {}={}: not a number of milliseconds", env, v);
            return 0;
        }
    }
}
