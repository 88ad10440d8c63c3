package forge.checkpoint;

import forge.storage.S3Uri;

/** A checkpoint the background writer finished: where, which step, how big, how long build plus upload took. */
public record Committed(S3Uri uri, long step, long bytes, double seconds) {
}
