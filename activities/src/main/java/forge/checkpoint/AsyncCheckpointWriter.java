package forge.checkpoint;

import forge.storage.StorageException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Writes checkpoints on one background thread so training only pays for copying tensors to host memory. At most one
 * checkpoint is in flight: {@link #submit} waits for the previous one, which bounds memory to two host copies (one
 * where the caller also waits with {@link #awaitIdle} before it copies, as the training loop does) and
 * keeps commits in step order. A failed checkpoint is logged and counted, never half-committed (the manifest goes
 * last), so the previous commit stays the newest valid one.
 */
public final class AsyncCheckpointWriter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(AsyncCheckpointWriter.class);

    private final CheckpointStore store;
    private final Consumer<Committed> listener;
    private final Consumer<FailedCheckpoint> onFailure;
    private final ExecutorService executor;
    private final Object lock = new Object();
    private final AtomicLong failures = new AtomicLong();
    private final AtomicLong commits = new AtomicLong();
    private Future<?> inFlight;
    private boolean closed;
    private volatile long lastSubmitBlockedNanos;
    private volatile long totalSubmitBlockedNanos;
    private volatile Committed lastCommitted;
    private volatile FailedCheckpoint lastOutcomeFailure;

    public AsyncCheckpointWriter(CheckpointStore store) {
        this(store, c -> { });
    }

    /**
     * @param listener called on the writer thread after each commit, e.g. to heartbeat the committed URI; what it
     *                 throws is logged and does not undo the commit
     */
    public AsyncCheckpointWriter(CheckpointStore store, Consumer<Committed> listener) {
        this(store, listener, f -> { });
    }

    /** @param onFailure called on the writer thread after a checkpoint failed (e.g. to count it in a metric) */
    public AsyncCheckpointWriter(CheckpointStore store, Consumer<Committed> listener,
                                 Consumer<FailedCheckpoint> onFailure) {
        if (store == null || listener == null || onFailure == null) {
            throw new IllegalArgumentException("async checkpoint writer needs a store and a listener");
        }
        this.store = store;
        this.listener = listener;
        this.onFailure = onFailure;
        // The writer's log lines carry the stage's run and stage like the training thread's (MDC is per thread).
        Map<String, String> logContext = MDC.getCopyOfContextMap();
        this.executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(() -> {
                if (logContext != null) {
                    MDC.setContextMap(logContext);
                }
                r.run();
            }, "checkpoint-writer " + store.stageRoot());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Queues a checkpoint: {@code build} serializes the host copies into files on the writer thread, then they are
     * checksummed, uploaded and committed. Blocks only while the previous checkpoint is still in flight.
     *
     * @throws CancellationException if interrupted while waiting (the interrupt flag is kept)
     */
    public void submit(String dirName, long step, Callable<List<CheckpointFile>> build) {
        CheckpointNames.checkDirName(dirName);
        if (build == null) {
            throw new IllegalArgumentException("checkpoint " + dirName + " has no build function");
        }
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("checkpoint writer is closed");
            }
            long start = System.nanoTime();
            try {
                waitFor(inFlight);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CancellationException("interrupted while waiting for the previous checkpoint upload");
            }
            long blocked = System.nanoTime() - start;
            lastSubmitBlockedNanos = blocked;
            totalSubmitBlockedNanos += blocked;
            inFlight = executor.submit(() -> write(dirName, step, build));
        }
    }

    private void write(String dirName, long step, Callable<List<CheckpointFile>> build) {
        long start = System.nanoTime();
        Committed committed;
        try {
            List<CheckpointFile> files = build.call();
            long bytes = files.stream().mapToLong(CheckpointFile::size).sum();
            committed = new Committed(store.commit(dirName, files), step, bytes,
                    (System.nanoTime() - start) / 1e9);
        } catch (AttemptReplacedException replaced) {
            // Refused by the fence, not a storage fault: the training loop sees it through the store and stops.
            lastOutcomeFailure = new FailedCheckpoint(dirName, step, replaced);
            log.warn("checkpoint {} (step {}) refused: {}", dirName, step, replaced.getMessage());
            return;
        } catch (Throwable t) {
            FailedCheckpoint failure = new FailedCheckpoint(dirName, step, t);
            failures.incrementAndGet();
            lastOutcomeFailure = failure;
            if (t instanceof StorageException) {
                // Its message already says which endpoint/object and why; the SDK stack adds nothing.
                log.error("{}; the previous checkpoint remains the newest valid one", failure.describe());
            } else {
                log.error("{}; the previous checkpoint remains the newest valid one", failure.describe(), t);
            }
            try {
                onFailure.accept(failure);
            } catch (RuntimeException e) {
                log.warn("checkpoint failure listener failed: {}", e.toString());
            }
            if (t instanceof Error e && !(t instanceof OutOfMemoryError)) {
                throw e;
            }
            return;
        }
        lastOutcomeFailure = null;
        lastCommitted = committed;
        commits.incrementAndGet();
        log.info("checkpoint {} committed: {} bytes in {} s", committed.uri(), committed.bytes(),
                String.format("%.2f", committed.seconds()));
        try {
            listener.accept(committed);
        } catch (RuntimeException e) {
            log.warn("checkpoint listener failed after committing {}: {}", committed.uri(), e.toString());
        }
    }

    /**
     * Waits until nothing is in flight. Returns the failure of the most recent checkpoint if that one failed; an older
     * failure followed by a successful commit is not reported, since a newer valid checkpoint superseded it. Never
     * throws; if interrupted it keeps the interrupt flag and answers with what is known so far.
     */
    public Optional<FailedCheckpoint> awaitIdle() {
        Future<?> current;
        synchronized (lock) {
            current = inFlight;
        }
        try {
            waitFor(current);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Optional.ofNullable(lastOutcomeFailure);
    }

    public Optional<Committed> lastCommitted() {
        return Optional.ofNullable(lastCommitted);
    }

    /** Nanoseconds the latest {@link #submit} spent waiting for the previous upload. */
    public long lastSubmitBlockedNanos() {
        return lastSubmitBlockedNanos;
    }

    public long totalSubmitBlockedNanos() {
        return totalSubmitBlockedNanos;
    }

    public long failures() {
        return failures.get();
    }

    public long commits() {
        return commits.get();
    }

    /** Waits for the in-flight checkpoint, then stops the writer thread. */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        awaitIdle();
        executor.shutdown();
        try {
            if (!executor.awaitTermination(1, TimeUnit.MINUTES)) {
                log.warn("checkpoint writer thread did not stop within a minute");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void waitFor(Future<?> f) throws InterruptedException {
        if (f == null) {
            return;
        }
        try {
            f.get();
        } catch (ExecutionException e) {
            // write() records its own failures; only an Error it rethrew lands here, already logged.
        }
    }
}
