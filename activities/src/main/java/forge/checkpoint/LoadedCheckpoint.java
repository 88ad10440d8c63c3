package forge.checkpoint;

import forge.errors.BadInputException;
import forge.storage.S3Uri;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A checkpoint whose every file matched its manifest. Arrays are shared, not copied (they can be large); treat them
 * as read-only.
 */
public record LoadedCheckpoint(S3Uri uri, String name, Map<String, byte[]> files) {
    public LoadedCheckpoint {
        files = Collections.unmodifiableMap(new LinkedHashMap<>(files));
    }

    /** A file's bytes; a checkpoint lacking a file the caller needs cannot be used, whoever named it. */
    public byte[] file(String fileName) {
        byte[] content = files.get(fileName);
        if (content == null) {
            throw new BadInputException("checkpoint " + uri + " has no file '" + fileName + "' (it has "
                    + String.join(", ", files.keySet()) + ")");
        }
        return content;
    }

    public Optional<byte[]> optionalFile(String fileName) {
        return Optional.ofNullable(files.get(fileName));
    }

    /** The step from a {@code step-NNNNNNNNN} name; -1 for "final" or any other name. */
    public long step() {
        return CheckpointNames.parseStep(name);
    }

    public long totalBytes() {
        return files.values().stream().mapToLong(b -> b.length).sum();
    }
}
