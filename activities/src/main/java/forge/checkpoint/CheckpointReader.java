package forge.checkpoint;

import forge.storage.ObjectNotFoundException;
import forge.storage.S3Storage;
import forge.storage.StorageException;
import forge.storage.S3Uri;
import forge.storage.StoredObject;

import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Decides whether a checkpoint directory may be loaded. Only what is wrong with the checkpoint itself makes it
 * {@link Verification.Invalid}; a storage outage propagates as an exception, because quietly falling back to an older
 * checkpoint during an outage would throw away progress.
 */
final class CheckpointReader {
    /**
     * Files up to this size are kept in memory once verified (configs, state, small models); larger ones are
     * digested as they stream by and fetched again when loaded, so verifying never holds a shard.
     */
    static final long HELD_MAX_BYTES = 32L * 1024 * 1024;

    private final S3Storage s3;

    CheckpointReader(S3Storage s3) {
        this.s3 = s3;
    }

    /** Full check: streams every file and compares size and SHA-256 with the manifest. */
    Verification read(S3Uri dir) {
        Optional<Manifest> manifest;
        try {
            manifest = readManifest(dir);
        } catch (IllegalArgumentException e) {
            return new Verification.Invalid("unparsable " + Manifest.FILE_NAME + ": " + e.getMessage());
        }
        if (manifest.isEmpty()) {
            return withoutManifest(dir);
        }
        Manifest m = manifest.get();
        if (m.formatVersion() > Manifest.FORMAT_VERSION) {
            return new Verification.Invalid("manifest format version " + m.formatVersion()
                    + " is newer than this build understands (" + Manifest.FORMAT_VERSION + ")");
        }
        Map<String, byte[]> held = new LinkedHashMap<>();
        Map<String, Manifest.Entry> fetched = new LinkedHashMap<>();
        for (Manifest.Entry e : m.files()) {
            Optional<String> problem = e.size() <= HELD_MAX_BYTES ? checkHeld(dir, e, held) : checkStreamed(dir, e);
            if (problem.isPresent()) {
                return new Verification.Invalid(problem.get());
            }
            if (!held.containsKey(e.name())) {
                fetched.put(e.name(), e);
            }
        }
        return new Verification.Valid(new LoadedCheckpoint(dir, dir.name(),
                new VerifiedFiles(s3, dir, held, fetched), m));
    }

    private Optional<String> checkHeld(S3Uri dir, Manifest.Entry e, Map<String, byte[]> held) {
        Optional<byte[]> content = s3.getIfExists(dir.resolve(e.name()));
        if (content.isEmpty()) {
            return Optional.of("missing file " + e.name());
        }
        byte[] bytes = content.get();
        if (bytes.length != e.size()) {
            return Optional.of("file " + e.name() + " has " + bytes.length + " bytes, manifest says " + e.size());
        }
        String sha = Digests.sha256(bytes);
        if (!sha.equals(e.sha256())) {
            return Optional.of("file " + e.name() + " sha256 " + abbrev(sha) + " does not match manifest "
                    + abbrev(e.sha256()));
        }
        held.put(e.name(), bytes);
        return Optional.empty();
    }

    /** A shard: digested as it streams past and dropped; it is read again, and checked again, when loaded. */
    private Optional<String> checkStreamed(S3Uri dir, Manifest.Entry e) {
        S3Uri uri = dir.resolve(e.name());
        String sha;
        try (InputStream in = s3.getStream(uri)) {
            sha = VerifiedFiles.digest(in, e.size());
        } catch (ObjectNotFoundException missing) {
            return Optional.of("missing file " + e.name());
        } catch (IOException broken) {
            // The connection, not the checkpoint: falling back to an older one would throw progress away.
            throw new StorageException("reading " + uri + " broke off: " + broken.getMessage(), 0, broken);
        }
        if (sha == null) {
            return Optional.of("file " + e.name() + " does not have the " + e.size() + " bytes the manifest says");
        }
        if (!sha.equals(e.sha256())) {
            return Optional.of("file " + e.name() + " sha256 " + abbrev(sha) + " does not match manifest "
                    + abbrev(e.sha256()));
        }
        return Optional.empty();
    }

    /**
     * Cheap check for retention: manifest parses and every listed file exists with the right size. It skips the
     * checksums because retention runs after every commit and must not download K checkpoints each time; the full
     * check still guards every load.
     */
    Verification shallow(S3Uri dir) {
        List<StoredObject> objects = s3.listWithSizes(dir);
        if (objects.isEmpty()) {
            return new Verification.Absent();
        }
        Optional<Manifest> manifest;
        try {
            manifest = readManifest(dir);
        } catch (IllegalArgumentException e) {
            return new Verification.Invalid("unparsable " + Manifest.FILE_NAME + ": " + e.getMessage());
        }
        if (manifest.isEmpty()) {
            return new Verification.Invalid("torn: no " + Manifest.FILE_NAME);
        }
        Map<String, Long> sizes = new LinkedHashMap<>();
        objects.forEach(o -> sizes.put(o.name(), o.size()));
        for (Manifest.Entry e : manifest.get().files()) {
            Long size = sizes.get(e.name());
            if (size == null) {
                return new Verification.Invalid("missing file " + e.name());
            }
            if (size != e.size()) {
                return new Verification.Invalid("file " + e.name() + " has " + size + " bytes, manifest says "
                        + e.size());
            }
        }
        return new Verification.Valid(new LoadedCheckpoint(dir, dir.name(), Map.of(), manifest.get()));
    }

    private Optional<Manifest> readManifest(S3Uri dir) {
        return s3.getIfExists(dir.resolve(Manifest.FILE_NAME)).map(CheckpointReader::parseManifest);
    }

    private static Manifest parseManifest(byte[] json) {
        if (json.length == 0) {
            throw new IllegalArgumentException("empty file");
        }
        return Manifest.parse(json);
    }

    private Verification withoutManifest(S3Uri dir) {
        List<String> present = s3.list(dir);
        if (present.isEmpty()) {
            return new Verification.Absent();
        }
        return new Verification.Invalid("torn: no " + Manifest.FILE_NAME + " (" + present.size() + " file"
                + (present.size() == 1 ? "" : "s") + " present: " + summarize(present) + ")");
    }

    private static String summarize(List<String> names) {
        return names.size() <= 5 ? String.join(", ", names)
                : String.join(", ", names.subList(0, 5)) + ", ...";
    }

    private static String abbrev(String sha) {
        return sha.substring(0, 12) + "...";
    }
}
