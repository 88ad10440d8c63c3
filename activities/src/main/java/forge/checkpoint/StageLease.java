package forge.checkpoint;

import forge.storage.PreconditionFailedException;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.storage.StorageException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One attempt's claim on a stage root, and the check that it still holds: the fence of docs/fencing.md. An attempt
 * claims the next epoch by creating {@code _epochs/epoch-N.json} (with {@code If-None-Match: *} where the endpoint
 * enforces it); it has been replaced as soon as a higher epoch exists, or — where the endpoint cannot refuse a second
 * create — when its epoch's record carries another attempt's token. Records never change once written, so each check
 * is one LIST, plus a GET for records not seen before.
 */
final class StageLease {
    private static final Logger log = LoggerFactory.getLogger(StageLease.class);
    private static final int CLAIM_TRIES = 20;
    private static final ScheduledExecutorService WATCHER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "forge-lease-watch");
        t.setDaemon(true);
        return t;
    });

    private final S3Storage s3;
    private final S3Uri root;
    private final S3Uri dir;
    private final TreeMap<Long, EpochRecord> known = new TreeMap<>();
    private volatile EpochRecord mine;
    /** Whether the endpoint refuses a second create of a record; if not, a check re-reads this attempt's own. */
    private volatile boolean conditional = true;
    private volatile String replacedBy;

    StageLease(S3Storage s3, S3Uri stageRoot) {
        this.s3 = s3;
        this.root = stageRoot;
        this.dir = stageRoot.resolve(CheckpointNames.EPOCHS);
    }

    /** Every epoch claimed so far, oldest first; freshly listed. */
    synchronized List<EpochRecord> records() {
        for (String name : s3.list(dir)) {
            long epoch = parseEpoch(name);
            if (epoch < 1 || known.containsKey(epoch) && (conditional || !isMine(epoch))) {
                continue;
            }
            read(epoch).ifPresent(r -> known.put(epoch, r));
        }
        return List.copyOf(known.values());
    }

    /** {@code _epochs/} of the stage root: where the records live (and the conditional-write probe runs). */
    S3Uri directory() {
        return dir;
    }

    /** The records last listed, without asking S3 again. */
    synchronized Collection<EpochRecord> cached() {
        return List.copyOf(known.values());
    }

    /** Retention and the watcher's pre-check need to know which claim is this attempt's. */
    EpochRecord mine() {
        return mine;
    }

    boolean claimed() {
        return mine != null;
    }

    /**
     * Claims the next epoch for this attempt, recording where it resumes. Another attempt claiming at the same moment
     * makes this one try the epoch after: the last to claim owns the stage, and the other learns so at its next check.
     */
    synchronized EpochRecord claim(long resumedFromStep, String resumedFrom, String owner) {
        conditional = s3.conditionalWrites(dir);
        for (int i = 0; i < CLAIM_TRIES; i++) {
            records();
            long next = known.isEmpty() ? 1 : known.lastKey() + 1;
            EpochRecord rec = new EpochRecord(next, UUID.randomUUID().toString(), owner, resumedFromStep, resumedFrom,
                    Instant.now().toString());
            S3Uri key = dir.resolve(EpochRecord.fileName(next));
            try {
                if (conditional) {
                    s3.putIfAbsent(key, rec.toJson());
                } else if (s3.exists(key)) {
                    continue;
                } else {
                    s3.put(key, rec.toJson());
                }
            } catch (PreconditionFailedException e) {
                // Someone else's claim, or the first try of our own request whose reply was lost: read it.
            }
            // Read after write: without conditional writes a concurrent claim may have replaced ours.
            Optional<EpochRecord> stored = read(next);
            if (stored.isPresent() && stored.get().token().equals(rec.token())) {
                mine = rec;
                replacedBy = null;
                known.put(next, rec);
                log.info("claimed {} of {}{}", rec.describe(), root,
                        conditional ? "" : " (endpoint without conditional writes: fenced by read-after-write checks)");
                return rec;
            }
        }
        throw new StorageException("could not claim an epoch under " + dir + " in " + CLAIM_TRIES
                + " tries: other attempts keep claiming it", 0, null);
    }

    /**
     * Throws if this attempt has been replaced; from then on every call throws. Call before anything is written and
     * again after, since a claim can land between the two.
     */
    void check() {
        EpochRecord me = mine;
        if (me == null) {
            throw new IllegalStateException("stage root " + root + " written before its epoch was claimed");
        }
        if (replacedBy != null) {
            throw replaced();
        }
        List<EpochRecord> all = records();
        EpochRecord newest = all.get(all.size() - 1);
        Optional<EpochRecord> atMine = all.stream().filter(r -> r.epoch() == me.epoch()).findFirst();
        if (newest.epoch() > me.epoch()) {
            replacedBy = newest.describe();
        } else if (atMine.isEmpty() || !atMine.get().token().equals(me.token())) {
            replacedBy = atMine.map(EpochRecord::describe).orElse("nobody: epoch " + me.epoch() + "'s record is gone");
        }
        if (replacedBy != null) {
            log.warn("{} of {} has been replaced by {}; it stops without writing", me.describe(), root,
                    replacedBy);
            throw replaced();
        }
    }

    /** True once a check found this attempt replaced; cheap, for the training loop to poll every step. */
    boolean replacedKnown() {
        return replacedBy != null;
    }

    AttemptReplacedException replaced() {
        EpochRecord me = mine;
        return new AttemptReplacedException("this attempt of " + root + " (" + (me == null ? "unclaimed"
                : me.describe()) + ") was replaced by " + replacedBy + "; it stops, and what it writes is ignored");
    }

    /** Checks every {@code interval} in the background, so a replaced attempt learns it between checkpoints too. */
    CheckpointStore.LeaseWatch watch(Duration interval) {
        ScheduledFuture<?> f = WATCHER.scheduleWithFixedDelay(() -> {
            if (mine == null || replacedBy != null) {
                return;
            }
            try {
                check();
            } catch (AttemptReplacedException e) {
                // recorded in replacedBy; the training loop stops at its next step
            } catch (RuntimeException e) {
                log.debug("lease check of {} failed, will try again: {}", root, e.toString());
            }
        }, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
        return () -> f.cancel(false);
    }

    private boolean isMine(long epoch) {
        EpochRecord me = mine;
        return me != null && me.epoch() == epoch;
    }

    private Optional<EpochRecord> read(long epoch) {
        S3Uri key = dir.resolve(EpochRecord.fileName(epoch));
        Optional<byte[]> bytes = s3.getIfExists(key);
        if (bytes.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(EpochRecord.parse(bytes.get(), key.toString()));
        } catch (IllegalStateException e) {
            // Only a hand-edited record is unreadable (a PUT lands whole). Assume the worst of it: it saw nothing.
            log.warn("{}; treating it as a claim that resumed from scratch", e.getMessage());
            return Optional.of(new EpochRecord(epoch, "unreadable-" + Arrays.hashCode(bytes.get()), "unknown", 0,
                    null, "unknown"));
        }
    }

    private static long parseEpoch(String name) {
        if (!name.startsWith("epoch-") || !name.endsWith(".json")) {
            return -1;
        }
        try {
            return Long.parseLong(name.substring("epoch-".length(), name.length() - ".json".length()));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Who is claiming: host, process, and the Temporal attempt when a stage activity runs this. */
    static String owner() {
        String host = System.getenv().getOrDefault("HOSTNAME", "localhost");
        String attempt = org.slf4j.MDC.get("attempt");
        return host + " pid " + ProcessHandle.current().pid() + (attempt == null ? "" : " attempt " + attempt);
    }
}
