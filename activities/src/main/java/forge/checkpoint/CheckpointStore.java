package forge.checkpoint;

import forge.errors.BadInputException;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.storage.StorageException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The checkpoints of one stage of one run, under {@code stageRoot}: {@code step-NNNNNNNNN/} directories plus
 * {@code final/}, each holding its files and a MANIFEST.json written last. A checkpoint exists iff its manifest
 * exists and every file matches it; anything else is skipped with a warning and never loaded.
 *
 * <p>One writer per stage root is assumed (Temporal runs one attempt of an activity at a time); readers may run
 * anywhere.
 */
public final class CheckpointStore {
    private static final Logger log = LoggerFactory.getLogger(CheckpointStore.class);
    public static final String FINAL = CheckpointNames.FINAL;

    private final S3Storage s3;
    private final S3Uri stageRoot;
    private final int keepLast;
    private final CheckpointReader reader;
    private final AtomicLong skippedCorrupt = new AtomicLong();

    public CheckpointStore(S3Storage s3, S3Uri stageRoot, int keepLast) {
        if (s3 == null || stageRoot == null) {
            throw new IllegalArgumentException("checkpoint store needs storage and a stage root");
        }
        if (keepLast < 2) {
            // With one, a checkpoint damaged after commit would leave nothing to resume from.
            throw new IllegalArgumentException("keepLast must be >= 2, got " + keepLast);
        }
        this.s3 = s3;
        this.stageRoot = stageRoot;
        this.keepLast = keepLast;
        this.reader = new CheckpointReader(s3);
    }

    /** {@code step-%09d}: zero-padded so listings sort by step. */
    public static String stepDir(long step) {
        return CheckpointNames.stepDir(step);
    }

    /** The storage this store reads and writes (a parent Hugging Face checkpoint under s3:// is read through it). */
    public S3Storage storage() {
        return s3;
    }

    public S3Uri stageRoot() {
        return stageRoot;
    }

    public int keepLast() {
        return keepLast;
    }

    /** How many torn or corrupt checkpoints this store has skipped while loading. */
    public long skippedCorrupt() {
        return skippedCorrupt.get();
    }

    /**
     * Uploads {@code files} into {@code dirName}, then its manifest, then applies retention. Re-committing a name
     * first deletes the old manifest and files, so a crash half-way leaves a torn directory, never old and new files
     * mixed under a valid manifest. Retention problems are logged, not thrown: the checkpoint itself is safe.
     *
     * @return the checkpoint directory
     */
    public S3Uri commit(String dirName, List<CheckpointFile> files) {
        CheckpointNames.checkDirName(dirName);
        if (files == null || files.isEmpty()) {
            throw new IllegalArgumentException("checkpoint " + dirName + " has no files");
        }
        Set<String> names = new HashSet<>();
        for (CheckpointFile f : files) {
            if (!names.add(f.name())) {
                throw new IllegalArgumentException("checkpoint " + dirName + " lists " + f.name() + " twice");
            }
        }
        S3Uri dir = stageRoot.resolve(dirName);
        Manifest manifest = Manifest.describe(dirName, files);
        clearForRecommit(dir);
        for (int i = 0; i < files.size(); i++) {
            s3.put(dir.resolve(files.get(i).name()), files.get(i).content());
            if (i == 0 && files.size() > 1 && CommitPauses.DURING_UPLOAD_MS > 0) { // test hook, see CommitPauses
                CommitPauses.pause(CommitPauses.DURING_UPLOAD_MS, "during the upload of " + dir);
            }
        }
        if (CommitPauses.BEFORE_MANIFEST_MS > 0) { // test hook, see CommitPauses
            CommitPauses.pause(CommitPauses.BEFORE_MANIFEST_MS, "before the manifest of " + dir);
        }
        s3.put(dir.resolve(Manifest.FILE_NAME), manifest.toJson());
        log.debug("committed {} ({} files, {} bytes)", dir, files.size(), manifest.totalBytes());
        try {
            applyRetention(dirName);
        } catch (StorageException e) {
            log.warn("retention after committing {} failed, will retry after the next commit: {}", dir,
                    e.getMessage());
        }
        return dir;
    }

    private void clearForRecommit(S3Uri dir) {
        List<String> existing = s3.list(dir);
        if (existing.isEmpty()) {
            return;
        }
        // Manifest first: from here on the directory is torn and no reader will trust it.
        s3.delete(dir.resolve(Manifest.FILE_NAME));
        s3.deleteAll(dir);
        log.info("re-committing {}: removed {} previous objects", dir, existing.size());
    }

    /**
     * The newest step checkpoint that verifies; torn or corrupt ones are skipped with a WARN each, and one more names
     * the older checkpoint used instead, since the steps after it will be trained again.
     */
    public Optional<LoadedCheckpoint> latest() {
        List<String> skipped = new ArrayList<>();
        for (StepDir d : stepDirsNewestFirst()) {
            Verification v = reader.read(stageRoot.resolve(d.name()));
            if (v instanceof Verification.Valid valid) {
                if (!skipped.isEmpty()) {
                    log.warn("using checkpoint {}: the newer {} could not be loaded", valid.checkpoint().uri(),
                            String.join(", ", skipped));
                }
                return Optional.of(valid.checkpoint());
            }
            if (v instanceof Verification.Invalid invalid) {
                skip(stageRoot.resolve(d.name()), invalid.reason());
                skipped.add(d.name());
            }
        }
        if (!skipped.isEmpty()) {
            log.warn("no valid checkpoint under {}: {} could not be loaded", stageRoot, String.join(", ", skipped));
        }
        return Optional.empty();
    }

    /** The checkpoint at {@code dir} if it verifies; empty (with a WARN if something is there) otherwise. */
    public Optional<LoadedCheckpoint> load(S3Uri dir) {
        Verification v = reader.read(dir);
        if (v instanceof Verification.Valid valid) {
            return Optional.of(valid.checkpoint());
        }
        if (v instanceof Verification.Invalid invalid) {
            skip(dir, invalid.reason());
        }
        return Optional.empty();
    }

    /** For a checkpoint the user named (a parent stage's output): anything but a valid one is their error. */
    public LoadedCheckpoint loadRequired(S3Uri dir) {
        Verification v = reader.read(dir);
        if (v instanceof Verification.Valid valid) {
            return valid.checkpoint();
        }
        String reason = v instanceof Verification.Invalid invalid ? invalid.reason() : "nothing is stored there";
        throw new BadInputException("checkpoint " + dir + " is missing or corrupt: " + reason);
    }

    public Optional<LoadedCheckpoint> loadFinal() {
        return load(stageRoot.resolve(FINAL));
    }

    /** Step directory names present under the stage root, newest first, whatever their state. */
    public List<String> stepDirs() {
        return stepDirsNewestFirst().stream().map(StepDir::name).toList();
    }

    private void skip(S3Uri dir, String reason) {
        skippedCorrupt.incrementAndGet();
        log.warn("skipping checkpoint {}: {}", dir, reason);
    }

    /**
     * Keeps the newest {@code keepLast} valid step checkpoints (the one just committed always among the kept),
     * deletes older valid ones, and deletes invalid ones older than the newest valid one. Step directories newer than
     * the one just committed are left alone whatever they hold, and do not count towards {@code keepLast}: the writer
     * commits in step order, so they come from an attempt whose checkpoints the resume found torn or corrupt (a
     * flipped byte passes the cheap check below), and counting them could delete the checkpoint the stage resumed
     * from. Whoever reaches those steps next re-commits over them. "final" and other non-step names are never touched.
     */
    private void applyRetention(String committed) {
        long committedStep = CheckpointNames.parseStep(committed);
        int validKept = 0;
        boolean newerValidExists = false;
        for (StepDir d : stepDirsNewestFirst()) {
            S3Uri dir = stageRoot.resolve(d.name());
            if (committedStep >= 0 && d.step() > committedStep) {
                continue;
            }
            if (d.name().equals(committed)) {
                validKept++;
                newerValidExists = true;
                continue;
            }
            Verification v = reader.shallow(dir);
            if (v instanceof Verification.Valid) {
                if (validKept < keepLast) {
                    validKept++;
                    newerValidExists = true;
                } else {
                    log.info("retention: deleting {} (keeping the newest {})", dir, keepLast);
                    s3.deleteAll(dir);
                }
            } else if (newerValidExists) {
                String why = v instanceof Verification.Invalid invalid ? invalid.reason() : "empty";
                log.info("retention: deleting invalid {} older than a valid checkpoint ({})", dir, why);
                s3.deleteAll(dir);
            }
        }
    }

    private record StepDir(String name, long step) {
    }

    private List<StepDir> stepDirsNewestFirst() {
        List<StepDir> out = new ArrayList<>();
        for (String name : s3.listDirectories(stageRoot)) {
            long step = CheckpointNames.parseStep(name);
            if (step >= 0) {
                out.add(new StepDir(name, step));
            }
        }
        out.sort(Comparator.comparingLong(StepDir::step).reversed());
        return out;
    }
}
