package forge.checkpoint;

import forge.storage.PreconditionFailedException;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.storage.StorageException;
import forge.storage.StoredObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Writes a stage's {@code final/}, the one directory every attempt of a stage shares (its name is the contract the
 * next stage and users read). Where the endpoint enforces conditional writes, every object goes up with
 * {@code If-None-Match: *}, or {@code If-Match} naming the ETag this attempt saw, so a write from an attempt that was
 * replaced meanwhile fails instead of landing over its successor's; on a lost race the lease is checked before
 * anything is written again. Without conditional writes, the lease is checked before every object instead. Nothing
 * under {@code final/} is ever deleted: objects are only replaced, and a reader trusts them only under a manifest
 * whose checksums they match. See docs/fencing.md.
 */
final class FinalCommit {
    private static final Logger log = LoggerFactory.getLogger(FinalCommit.class);
    private static final int ROUNDS = 3;

    private final S3Storage s3;
    private final S3Uri dir;
    private final StageLease lease;
    private final boolean conditional;

    FinalCommit(S3Storage s3, S3Uri dir, StageLease lease) {
        this.s3 = s3;
        this.dir = dir;
        this.lease = lease;
        this.conditional = s3.conditionalWrites(lease.directory());
    }

    /**
     * @param describe the manifest of the files as uploaded (digests computed while they streamed)
     * @return the manifest written
     */
    Manifest write(List<CheckpointFile> files, Function<List<Manifest.Entry>, Manifest> describe) {
        for (int round = 1; ; round++) {
            lease.check();
            Map<String, StoredObject> present = new LinkedHashMap<>();
            s3.listWithSizes(dir).forEach(o -> present.put(o.name(), o));
            boolean clean = true;
            List<Manifest.Entry> entries = new ArrayList<>();
            for (CheckpointFile f : files) {
                Optional<String> sha = put(f, present.get(f.name()));
                clean &= sha.isPresent();
                entries.add(new Manifest.Entry(f.name(), f.size(),
                        sha.orElse(f.inMemory() ? Digests.sha256(f.content()) : UNKNOWN)));
            }
            Manifest manifest = describe.apply(entries);
            byte[] manifestJson = manifest.toJson();
            // Not over files another attempt wrote: their digests are not known, and the next round replaces them.
            if (clean) {
                // Named for the log only: the object written is MANIFEST.json.
                clean = put(new CheckpointFile("manifest", manifestJson), Manifest.FILE_NAME,
                        present.get(Manifest.FILE_NAME)).isPresent();
            }
            // Read after write: the manifest must be ours, and no claim may have landed meanwhile.
            lease.check();
            Optional<byte[]> stored = s3.getIfExists(dir.resolve(Manifest.FILE_NAME));
            if (clean && stored.isPresent() && Arrays.equals(stored.get(), manifestJson)) {
                return manifest;
            }
            if (round == ROUNDS) {
                throw new StorageException(dir + " kept changing while this attempt wrote it (" + ROUNDS
                        + " rounds); its manifest is not this attempt's", 0, null);
            }
            log.warn("{} changed while this attempt wrote it; writing it again (round {})", dir, round + 1);
        }
    }

    /** A digest no file has: marks an entry of a round that is written again anyway. */
    private static final String UNKNOWN = "0".repeat(64);

    private Optional<String> put(CheckpointFile f, StoredObject seen) {
        return put(f, f.name(), seen);
    }

    /**
     * One object; its SHA-256, or empty when someone else's write got in the way (after which the lease still
     * held).
     */
    private Optional<String> put(CheckpointFile f, String name, StoredObject seen) {
        S3Uri uri = dir.resolve(name);
        if (!conditional) {
            lease.check();
            return Optional.of(upload(uri, f, null, false));
        }
        try {
            if (seen == null || seen.etag() == null) {
                return Optional.of(upload(uri, f, null, true));
            }
            return Optional.of(upload(uri, f, seen.etag(), true));
        } catch (PreconditionFailedException e) {
            // Another writer got there first: if it was a newer attempt, this one stops here.
            lease.check();
            if (f.inMemory()) {
                Optional<byte[]> now = s3.getIfExists(uri);
                if (now.isPresent() && Arrays.equals(now.get(), f.content())) {
                    // the same bytes (a retried request's first try, or an identical result)
                    return Optional.of(Digests.sha256(f.content()));
                }
            }
            // A streamed file is not compared (that would mean reading it back): the next round replaces it with
            // If-Match, which is right whoever wrote it.
            log.warn("{} was written by another attempt while this one committed; replacing it", uri);
            return Optional.empty();
        }
    }

    private String upload(S3Uri uri, CheckpointFile f, String ifMatch, boolean conditionally) {
        if (f.inMemory()) {
            if (!conditionally) {
                s3.put(uri, f.content());
            } else if (ifMatch == null) {
                s3.putIfAbsent(uri, f.content());
            } else {
                s3.putIfMatch(uri, f.content(), ifMatch);
            }
            return Digests.sha256(f.content());
        }
        if (!conditionally) {
            return s3.putStreamed(uri, f.size(), f.body());
        }
        return ifMatch == null ? s3.putStreamedIfAbsent(uri, f.size(), f.body())
                : s3.putStreamedIfMatch(uri, f.size(), f.body(), ifMatch);
    }
}
