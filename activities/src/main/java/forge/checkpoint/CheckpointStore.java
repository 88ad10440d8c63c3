package forge.checkpoint;

import forge.errors.BadInputException;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.storage.StorageException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The checkpoints of one stage of one run, under {@code stageRoot}: {@code step-NNNNNNNNN-eEEEEEE/} directories plus
 * {@code final/}, each holding its files and a MANIFEST.json written last. A checkpoint exists iff its manifest
 * exists and every file matches it; anything else is skipped with a warning and never loaded.
 *
 * <p>Writes are fenced (docs/fencing.md): an attempt claims an epoch before it writes ({@link #resume}), every step
 * directory it writes carries that epoch, and a commit checks before and after its manifest that no newer attempt has
 * claimed the stage. A replaced attempt's commits are refused, it never deletes what a newer attempt wrote, and
 * whatever it wrote after it was replaced is never loaded. Readers may run anywhere and claim nothing.
 */
public final class CheckpointStore {
    private static final Logger log = LoggerFactory.getLogger(CheckpointStore.class);
    public static final String FINAL = CheckpointNames.FINAL;

    private final S3Storage s3;
    private final S3Uri stageRoot;
    private final int keepLast;
    private final CheckpointReader reader;
    private final StageLease lease;
    private final AtomicLong skippedCorrupt = new AtomicLong();
    private volatile Map<String, String> producer = Map.of();

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
        this.lease = new StageLease(s3, stageRoot);
    }

    /** {@code step-%09d}: the checkpoint of a step, as callers name it; {@link #commit} adds the epoch. */
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

    /** Recorded in every manifest this store writes from now on: hardware, engine, dtype, threads. */
    public void producer(Map<String, String> description) {
        producer = description == null ? Map.of() : Map.copyOf(description);
    }

    /** This attempt's epoch, 0 before it claimed one. */
    public long epoch() {
        EpochRecord me = lease.mine();
        return me == null ? 0 : me.epoch();
    }

    /**
     * Claims the stage for a new attempt and returns the checkpoint it continues from: the newest valid one that no
     * later claim superseded. From here on every older attempt is fenced out, including one that used this same
     * store object before (it claims a new epoch each time).
     */
    public synchronized Optional<LoadedCheckpoint> resume() {
        Collection<EpochRecord> epochs = lease.records();
        Optional<LoadedCheckpoint> latest = latest(epochs);
        boolean finished = loadableFinal(epochs);
        lease.claim(finished ? EpochRecord.FROM_FINAL : latest.map(LoadedCheckpoint::step).orElse(0L),
                finished ? FINAL : latest.map(LoadedCheckpoint::name).orElse(null), StageLease.owner());
        return latest;
    }

    /** True once this attempt learned that a newer one replaced it: stop, write nothing more. */
    public boolean replaced() {
        return lease.replacedKnown();
    }

    /** The exception a replaced attempt stops with, naming who replaced it. */
    public AttemptReplacedException replacedException() {
        return lease.replaced();
    }

    /**
     * Checks in the background every {@code interval} whether this attempt has been replaced ({@link #replaced}), so a
     * stage learns it between checkpoints too. Close to stop.
     */
    public LeaseWatch watchLease(Duration interval) {
        return lease.watch(interval);
    }

    /** A background lease check in progress; closing stops it. */
    public interface LeaseWatch extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Uploads {@code files} into {@code dirName} (a {@link #stepDir} name, to which this attempt's epoch is added, or
     * {@link #FINAL}), then its manifest, then applies retention. Fenced: refused before the first upload and before
     * the manifest once a newer attempt has claimed the stage, and reported as refused if a claim landed while the
     * manifest was being written. Re-committing a name this attempt wrote first deletes the old manifest and files, so
     * a crash half-way leaves a torn directory, never old and new files mixed under a valid manifest. Retention
     * problems are logged, not thrown: the checkpoint itself is safe.
     *
     * @return the checkpoint directory
     * @throws AttemptReplacedException when this attempt has been replaced
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
        ensureClaimed();
        EpochRecord me = lease.mine();
        if (dirName.equals(FINAL)) {
            S3Uri dir = stageRoot.resolve(FINAL);
            Manifest manifest = new FinalCommit(s3, dir, lease)
                    .write(files, entries -> Manifest.of(FINAL, entries, me.epoch(), me.token(), producer));
            log.debug("committed {} ({} files, {} bytes)", dir, files.size(), manifest.totalBytes());
            return dir;
        }
        String ownName = ownName(dirName, me.epoch());
        S3Uri dir = stageRoot.resolve(ownName);
        lease.check();
        clearForRecommit(dir);
        List<Manifest.Entry> entries = new ArrayList<>();
        for (int i = 0; i < files.size(); i++) {
            entries.add(upload(dir, files.get(i)));
            if (i == 0 && files.size() > 1 && CommitPauses.duringUploadMs > 0) { // test hook, see CommitPauses
                CommitPauses.pause(CommitPauses.duringUploadMs, "during the upload of " + dir);
            }
        }
        Manifest manifest = Manifest.of(ownName, entries, me.epoch(), me.token(), producer);
        if (CommitPauses.beforeManifestMs > 0) { // test hook, see CommitPauses
            CommitPauses.pause(CommitPauses.beforeManifestMs, "before the manifest of " + dir);
        }
        lease.check();
        s3.put(dir.resolve(Manifest.FILE_NAME), manifest.toJson());
        // Read after write: a claim that landed while the manifest was on its way may not have seen it, and then
        // this checkpoint is superseded. Either way this attempt must stop.
        lease.check();
        log.debug("committed {} ({} files, {} bytes)", dir, files.size(), manifest.totalBytes());
        try {
            applyRetention(CheckpointNames.parseStep(ownName), me.epoch());
        } catch (StorageException e) {
            log.warn("retention after committing {} failed, will retry after the next commit: {}", dir,
                    e.getMessage());
        }
        return dir;
    }

    /**
     * One file: an in-memory one in one PUT, a streamed one part by part with its digest computed on the way (never
     * all of it on the heap, see {@link CheckpointBuffers}).
     */
    private Manifest.Entry upload(S3Uri dir, CheckpointFile f) {
        S3Uri uri = dir.resolve(f.name());
        if (f.inMemory()) {
            s3.put(uri, f.content());
            return new Manifest.Entry(f.name(), f.size(), Digests.sha256(f.content()));
        }
        return new Manifest.Entry(f.name(), f.size(), s3.putStreamed(uri, f.size(), f.body()));
    }

    /** A step name gets this attempt's epoch; another attempt's directory is not this attempt's to write. */
    private static String ownName(String dirName, long epoch) {
        long step = CheckpointNames.parseStep(dirName);
        if (step < 0) {
            throw new IllegalArgumentException("checkpoint " + dirName + " is neither a step directory nor " + FINAL);
        }
        String own = CheckpointNames.stepDir(step, epoch);
        if (!dirName.equals(own) && !dirName.equals(CheckpointNames.stepDir(step))) {
            throw new IllegalArgumentException("checkpoint " + dirName + " belongs to another epoch than this"
                    + " attempt's (" + epoch + ")");
        }
        return own;
    }

    /** A store that commits without {@link #resume} (tools, benchmarks) claims where the newest checkpoint is. */
    private synchronized void ensureClaimed() {
        if (lease.claimed()) {
            return;
        }
        Collection<EpochRecord> epochs = lease.records();
        Optional<StepDir> newest = newestLoadableShallow(epochs);
        boolean finished = loadableFinal(epochs);
        lease.claim(finished ? EpochRecord.FROM_FINAL : newest.map(StepDir::step).orElse(0L),
                finished ? FINAL : newest.map(StepDir::name).orElse(null), StageLease.owner());
    }

    private void clearForRecommit(S3Uri dir) {
        List<String> existing = s3.list(dir);
        if (existing.isEmpty()) {
            return;
        }
        // Only ever this attempt's own directory (its name carries the epoch). Manifest first: from here on the
        // directory is torn and no reader will trust it.
        s3.delete(dir.resolve(Manifest.FILE_NAME));
        s3.deleteAll(dir);
        log.info("re-committing {}: removed {} previous objects", dir, existing.size());
    }

    /**
     * The newest step checkpoint that verifies and that no later claim superseded; torn or corrupt ones are skipped
     * with a WARN each, and one more names the older checkpoint used instead, since the steps after it will be
     * trained again.
     */
    public Optional<LoadedCheckpoint> latest() {
        return latest(lease.records());
    }

    private Optional<LoadedCheckpoint> latest(Collection<EpochRecord> epochs) {
        List<String> skipped = new ArrayList<>();
        for (StepDir d : stepDirsNewestFirst()) {
            Optional<EpochRecord> by = supersededBy(epochs, d.epoch(), d.step());
            if (by.isPresent()) {
                log.info("not loading {}: its attempt (epoch {}) was replaced by {} before it", d.name(), d.epoch(),
                        by.get().describe());
                continue;
            }
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

    private Optional<StepDir> newestLoadableShallow(Collection<EpochRecord> epochs) {
        for (StepDir d : stepDirsNewestFirst()) {
            if (supersededBy(epochs, d.epoch(), d.step()).isEmpty()
                    && reader.shallow(stageRoot.resolve(d.name())) instanceof Verification.Valid) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    private static Optional<EpochRecord> supersededBy(Collection<EpochRecord> epochs, long epoch, long step) {
        return epochs.stream().filter(r -> r.supersedes(epoch, step)).findFirst();
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

    /**
     * For a checkpoint the user named (a parent stage's output): anything but a valid one is their error. A step
     * named without its epoch ({@code .../step-000001200}, as before fencing) means that step's newest loadable
     * epoch.
     */
    public LoadedCheckpoint loadRequired(S3Uri dir) {
        Verification v = reader.read(dir);
        if (v instanceof Verification.Valid valid) {
            return valid.checkpoint();
        }
        if (v instanceof Verification.Absent) {
            Optional<LoadedCheckpoint> byStep = newestEpochOf(dir);
            if (byStep.isPresent()) {
                return byStep.get();
            }
        }
        String reason = v instanceof Verification.Invalid invalid ? invalid.reason() : "nothing is stored there";
        throw new BadInputException("checkpoint " + dir + " is missing or corrupt: " + reason);
    }

    private Optional<LoadedCheckpoint> newestEpochOf(S3Uri dir) {
        long step = CheckpointNames.parseStep(dir.name());
        int slash = dir.key().lastIndexOf('/');
        if (step < 0 || CheckpointNames.parseEpoch(dir.name()) != 0 || slash < 0) {
            return Optional.empty();
        }
        S3Uri root = new S3Uri(dir.bucket(), dir.key().substring(0, slash));
        Collection<EpochRecord> epochs = new StageLease(s3, root).records();
        List<String> names = new ArrayList<>(s3.listDirectories(root).stream()
                .filter(n -> CheckpointNames.parseStep(n) == step && CheckpointNames.parseEpoch(n) > 0).toList());
        names.sort(Comparator.comparingLong(CheckpointNames::parseEpoch).reversed());
        for (String name : names) {
            if (supersededBy(epochs, CheckpointNames.parseEpoch(name), step).isEmpty()
                    && reader.read(root.resolve(name)) instanceof Verification.Valid valid) {
                log.info("{} is stored as {}", dir, name);
                return Optional.of(valid.checkpoint());
            }
        }
        return Optional.empty();
    }

    /**
     * This stage's own {@code final/}, if it verifies and no later attempt superseded it (one that started training
     * again without having seen it: then a replaced attempt wrote it).
     */
    public Optional<LoadedCheckpoint> loadFinal() {
        Optional<LoadedCheckpoint> fin = load(stageRoot.resolve(FINAL));
        if (fin.isEmpty()) {
            return fin;
        }
        Optional<EpochRecord> by = supersededBy(lease.records(), fin.get().epoch(), EpochRecord.FROM_FINAL);
        if (by.isPresent()) {
            log.warn("not using {}: its attempt (epoch {}) was replaced by {}", fin.get().uri(), fin.get().epoch(),
                    by.get().describe());
            return Optional.empty();
        }
        return fin;
    }

    /** Cheaply: whether final/ looks complete (sizes, not checksums) and no later claim superseded it. */
    private boolean loadableFinal(Collection<EpochRecord> epochs) {
        Verification v = reader.shallow(stageRoot.resolve(FINAL));
        if (!(v instanceof Verification.Valid valid)) {
            return false;
        }
        return supersededBy(epochs, valid.checkpoint().epoch(), EpochRecord.FROM_FINAL).isEmpty();
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
     * After this attempt (epoch {@code epoch}) committed step {@code committedStep}: deletes what older attempts
     * left that nobody may load any more (checkpoints a later claim superseded), keeps the newest {@code keepLast}
     * valid step checkpoints (the one just committed among them) and deletes older valid ones, and deletes invalid
     * ones older than the newest valid one. Never touches a newer epoch's directory, "final" or any other name, and
     * leaves alone anything of its own epoch newer than the commit. Package-private for the test of a claim that
     * lands between a commit's last lease check and its retention.
     */
    void applyRetention(long committedStep, long epoch) {
        Collection<EpochRecord> epochs = lease.cached();
        int validKept = 0;
        boolean newerValidExists = false;
        for (StepDir d : stepDirsNewestFirst()) {
            S3Uri dir = stageRoot.resolve(d.name());
            if (d.epoch() > epoch) {
                continue; // a newer attempt's: never this one's to delete
            }
            if (d.epoch() < epoch && supersededBy(epochs, d.epoch(), d.step()).isPresent()) {
                log.info("retention: deleting {}, written by a replaced attempt", dir);
                s3.deleteAll(dir);
                continue;
            }
            if (d.step() > committedStep) {
                continue;
            }
            if (d.step() == committedStep && d.epoch() == epoch) {
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

    private record StepDir(String name, long step, long epoch) {
    }

    /** Newest step first; of one step, the newest epoch first. */
    private List<StepDir> stepDirsNewestFirst() {
        List<StepDir> out = new ArrayList<>();
        for (String name : s3.listDirectories(stageRoot)) {
            long step = CheckpointNames.parseStep(name);
            if (step >= 0) {
                out.add(new StepDir(name, step, CheckpointNames.parseEpoch(name)));
            }
        }
        out.sort(Comparator.comparingLong(StepDir::step).thenComparingLong(StepDir::epoch).reversed());
        return out;
    }
}
