package forge.train;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.Manifest;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.pretrain.PretrainStageTest;
import forge.storage.EmbeddedS3;
import forge.storage.FaultyS3Proxy.Fault;
import forge.storage.FaultyS3Proxy.Rates;
import forge.storage.FaultyS3Proxy;
import forge.storage.LocalS3;
import forge.storage.S3ClientOptions;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.storage.StorageException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pretraining whose S3 sits behind {@link FaultyS3Proxy}: errors, resets, stalls and cut-off uploads on a good share
 * of requests, one checkpoint whose manifest never gets through, a worker that dies and a pause. Attempts are
 * retried as Temporal would retry the activity. The stage completes with weights bit-identical to a run on a
 * fault-free S3, no checkpoint is ever half-committed, and every resume loads only a checkpoint that verifies.
 */
class TrainingThroughS3FaultsTest {
    private static final Duration SOCKET_TIMEOUT = Duration.ofMillis(1500);
    private static final S3ClientOptions OPTIONS = new S3ClientOptions(3, Duration.ofSeconds(2), SOCKET_TIMEOUT,
            Duration.ofMinutes(2), 5L << 20, 5L << 20, true);
    private static final Rates RATES = new Rates(0.05, 0.04, 0.05, 0.02, 0.2);
    private static final int MAX_STEPS = 45;
    private static final long CRASH_AT = 22;
    private static final long STOP_AT = 37;

    @TempDir
    Path dir;

    @Test
    void aStageTrainsThroughS3FaultsToTheSameWeightsAsWithout() throws Exception {
        ObjectNode json = (ObjectNode) PretrainStageTest.spec(MAX_STEPS);
        ((ObjectNode) json.get("checkpoint")).put("interval_steps", 5);
        PretrainConfig cfg = PretrainConfig.parse(json);
        Logger storeLog = (Logger) LoggerFactory.getLogger(CheckpointStore.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        storeLog.addAppender(logged);
        try (EmbeddedS3 s3 = LocalS3.start(dir);
             S3Storage direct = new S3Storage(s3.settings("runs"), LocalS3.testOptions());
             FaultyS3Proxy proxy = FaultyS3Proxy.start(s3.endpoint(), 20261125L, RATES, SOCKET_TIMEOUT.multipliedBy(2));
             S3Storage faulty = new S3Storage(S3Settings.local(proxy.endpoint(), s3.bucket(), "runs"), OPTIONS)) {
            CheckpointStore clean = new CheckpointStore(direct, s3.settings("runs").stageRoot("clean", "pretrain"), 2);
            new PretrainStage(cfg, clean, direct, PretrainStageTest.metrics(), null).run(StageControl.NONE);

            S3Uri root = s3.settings("runs").stageRoot("faulty", "pretrain");
            // Every file of step 20 arrives, its manifest never does: the most complete a torn checkpoint can be.
            proxy.schedule(Fault.HTTP_500, "PUT",
                    java.util.regex.Pattern.compile("/faulty/pretrain/step-000000020-e\\d+/" + Manifest.FILE_NAME + "$"),
                    OPTIONS.maxAttempts());
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            TrainingMetrics metrics = new TrainingMetrics(registry, "faulty", "pretrain");
            StageControl control = crashOnceThenStopOnce();
            List<String> attempts = new ArrayList<>();
            int failedAttempts = 0;
            StageOutcome outcome = null;
            long t0 = System.nanoTime();
            while (outcome == null || !outcome.completed()) {
                assertTrue(attempts.size() < 12, "the stage never completed: " + attempts);
                try {
                    outcome = new PretrainStage(cfg, new CheckpointStore(faulty, root, 2), faulty, metrics, null)
                            .run(control);
                    attempts.add(outcome.completed() ? "completed" : "stopped at step " + outcome.step());
                } catch (StorageException e) {
                    failedAttempts++;
                    attempts.add(e.getMessage());
                } catch (SimulatedCrash e) {
                    attempts.add(e.getMessage());
                }
                assertNothingHalfCommitted(new CheckpointStore(direct, root, 2), direct);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;

            double failed = registry.get("forge_checkpoint_failures").counter().count();
            double skipped = registry.get("forge_checkpoint_corrupt_skipped").counter().count();
            double resumes = registry.get("forge_resumes").counter().count();
            System.out.printf("training through faulty S3: %d requests, injected %s (%d in all, %d of the HTTP_500"
                            + " scheduled on step 20's manifest) in %.1f s; %.0f checkpoints failed, %.0f skipped on"
                            + " resume, %.0f resumes; attempts %s%n",
                    proxy.requests(), proxy.injectedByKind(), proxy.injectedTotal(), OPTIONS.maxAttempts(), seconds,
                    failed, skipped, resumes, attempts);

            for (Fault f : Fault.values()) {
                assertTrue(proxy.injected(f) > 0, f + " never injected: " + proxy.injectedByKind());
            }
            assertTrue(proxy.injectedTotal() >= 30, "too few faults to mean much: " + proxy.injectedByKind());
            // An operation that failed for good used up at most maxAttempts faults; the rest were retried away.
            long retriedAway = proxy.injectedTotal() - OPTIONS.maxAttempts() * (long) (failed + failedAttempts);
            assertTrue(retriedAway > proxy.injectedTotal() / 2, "only " + retriedAway + " faults were retried away");
            assertTrue(failed >= 1, "step 20's checkpoint cannot have committed");
            assertTrue(skipped >= 1, "the resume after the crash passes over the torn step 20");
            assertTrue(resumes >= 2, "resumed after the crash and after the pause: " + resumes);
            List<String> warnings = logged.list.stream().filter(e -> e.getLevel() == Level.WARN)
                    .map(ILoggingEvent::getFormattedMessage).toList();
            assertTrue(warnings.stream().anyMatch(w -> w.startsWith("skipping checkpoint "
                    + root.resolve("step-000000020-e")) && w.contains(": torn: no MANIFEST.json")), warnings.toString());

            CheckpointStore faultyRun = new CheckpointStore(direct, root, 2);
            assertArrayEquals(clean.loadFinal().orElseThrow().file("model.safetensors"),
                    faultyRun.loadFinal().orElseThrow().file("model.safetensors"), "weights differ from the clean run");
            assertArrayEquals(clean.loadFinal().orElseThrow().file("optimizer.safetensors"),
                    faultyRun.loadFinal().orElseThrow().file("optimizer.safetensors"));
        } finally {
            storeLog.detachAppender(logged);
        }
    }

    /**
     * A manifest vouches for its checkpoint: wherever one exists, every file it lists must be there and match. Read
     * straight from the store, past the proxy.
     */
    private static void assertNothingHalfCommitted(CheckpointStore store, S3Storage direct) {
        for (String name : direct.listDirectories(store.stageRoot())) {
            S3Uri d = store.stageRoot().resolve(name);
            if (direct.exists(d.resolve(Manifest.FILE_NAME))) {
                assertTrue(store.load(d).isPresent(), d + " has a manifest but does not verify");
            }
        }
    }

    private static final class SimulatedCrash extends RuntimeException {
        SimulatedCrash(long step) {
            super("worker died at step " + step);
        }
    }

    /** The worker dies once at {@link #CRASH_AT}; later the pipeline is paused once at {@link #STOP_AT}. */
    private static StageControl crashOnceThenStopOnce() {
        AtomicLong at = new AtomicLong();
        AtomicBoolean crashed = new AtomicBoolean();
        AtomicBoolean stopped = new AtomicBoolean();
        return new StageControl() {
            @Override
            public void progress(TrainingProgress p) {
                at.set(p.step());
                if (p.step() == CRASH_AT && crashed.compareAndSet(false, true)) {
                    throw new SimulatedCrash(p.step());
                }
            }

            @Override
            public void milestone(TrainingProgress p) {
            }

            @Override
            public boolean stopRequested() {
                return at.get() >= STOP_AT && stopped.compareAndSet(false, true);
            }
        };
    }
}
