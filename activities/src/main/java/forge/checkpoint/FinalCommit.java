package forge.checkpoint;

import forge.storage.PreconditionFailedException;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.storage.StorageException;
import forge.storage.StoredObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

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

    void write(List<CheckpointFile> files, Manifest manifest) {
        byte[] manifestJson = manifest.toJson();
        for (int round = 1; ; round++) {
            lease.check();
            Map<String, StoredObject> present = new LinkedHashMap<>();
            s3.listWithSizes(dir).forEach(o -> present.put(o.name(), o));
            boolean clean = true;
            for (CheckpointFile f : files) {
                clean &= put(f.name(), f.content(), present.get(f.name()));
            }
            clean &= put(Manifest.FILE_NAME, manifestJson, present.get(Manifest.FILE_NAME));
            // Read after write: the manifest must be ours, and no claim may have landed meanwhile.
            lease.check();
            Optional<byte[]> stored = s3.getIfExists(dir.resolve(Manifest.FILE_NAME));
            if (clean && stored.isPresent() && Arrays.equals(stored.get(), manifestJson)) {
                return;
            }
            if (round == ROUNDS) {
                throw new StorageException(dir + " kept changing while this attempt wrote it (" + ROUNDS
                        + " rounds); its manifest is not this attempt's", 0, null);
            }
            log.warn("{} changed while this attempt wrote it; writing it again (round {})", dir, round + 1);
        }
    }

    /** One object; false when someone else's write got in the way (after which the lease still held). */
    private boolean put(String name, byte[] content, StoredObject seen) {
        S3Uri uri = dir.resolve(name);
        if (!conditional) {
            lease.check();
            s3.put(uri, content);
            return true;
        }
        try {
            if (seen == null || seen.etag() == null) {
                s3.putIfAbsent(uri, content);
            } else {
                s3.putIfMatch(uri, content, seen.etag());
            }
            return true;
        } catch (PreconditionFailedException e) {
            // Another writer got there first: if it was a newer attempt, this one stops here.
            lease.check();
            Optional<byte[]> now = s3.getIfExists(uri);
            if (now.isPresent() && Arrays.equals(now.get(), content)) {
                return true; // the same bytes (a retried request's first try, or an identical result)
            }
            log.warn("{} was written by an older attempt while this one committed; replacing it", uri);
            return false;
        }
    }
}
