package forge.checkpoint;

import forge.errors.BadInputException;
import forge.storage.S3Uri;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A checkpoint whose every file matched its manifest. Arrays are shared, not copied (they can be large); treat them
 * as read-only.
 *
 * @param manifest the manifest it was verified against (who wrote it, on what); null only where none was read
 */
public record LoadedCheckpoint(S3Uri uri, String name, Map<String, byte[]> files, Manifest manifest) {
    public LoadedCheckpoint {
        if (!(files instanceof VerifiedFiles)) {
            files = Collections.unmodifiableMap(new LinkedHashMap<>(files));
        }
    }

    public LoadedCheckpoint(S3Uri uri, String name, Map<String, byte[]> files) {
        this(uri, name, files, null);
    }

    /** The epoch of the attempt that wrote it: from the manifest, else from a step directory's name. */
    public long epoch() {
        if (manifest != null && manifest.epoch() > 0) {
            return manifest.epoch();
        }
        return Math.max(0, CheckpointNames.parseEpoch(name));
    }

    /** What produced it (see {@link Manifest#producer}); empty when unknown. */
    public Map<String, String> producer() {
        return manifest == null ? Map.of() : manifest.producer();
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

    public boolean has(String fileName) {
        return files.containsKey(fileName);
    }

    /**
     * A file as a stream, checked against the manifest as it is read (the stream fails at its end if the file
     * changed since it was verified): how shards are loaded without holding one.
     */
    public InputStream open(String fileName) {
        InputStream in = files instanceof VerifiedFiles v ? v.open(fileName) : held(fileName);
        if (in == null) {
            throw new BadInputException("checkpoint " + uri + " has no file '" + fileName + "' (it has "
                    + String.join(", ", files.keySet()) + ")");
        }
        return in;
    }

    private InputStream held(String fileName) {
        byte[] b = files.get(fileName);
        return b == null ? null : new ByteArrayInputStream(b);
    }

    /** The step from a {@code step-NNNNNNNNN} name; -1 for "final" or any other name. */
    public long step() {
        return CheckpointNames.parseStep(name);
    }

    public long totalBytes() {
        if (manifest != null && files instanceof VerifiedFiles) {
            return manifest.totalBytes();
        }
        return files.values().stream().mapToLong(b -> b.length).sum();
    }
}
