package forge.train;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointStore;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.pretrain.PretrainStageTest;
import forge.storage.EmbeddedS3;
import forge.storage.LocalS3;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoints damaged after their commit — a flipped byte in the weights, a file gone — are passed over on resume
 * with a WARN naming each and the one used instead, counted in forge_checkpoint_corrupt_skipped, and the stage still
 * ends bit-identical to one that was never interrupted.
 */
class CorruptCheckpointResumeTest {
    @TempDir
    Path dir;

    @Test
    void aResumeSkipsCheckpointsDamagedAfterCommitForTheNewestValidOne() throws Exception {
        ObjectNode json = (ObjectNode) PretrainStageTest.spec(30);
        ((ObjectNode) json.get("checkpoint")).put("interval_steps", 5).put("keep_last", 3);
        PretrainConfig cfg = PretrainConfig.parse(json);
        Logger storeLog = (Logger) LoggerFactory.getLogger(CheckpointStore.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        try (EmbeddedS3 s3 = LocalS3.start(dir); S3Storage storage = new S3Storage(s3.settings("runs"), LocalS3.testOptions())) {
            CheckpointStore straight = new CheckpointStore(storage, s3.settings("runs").stageRoot("straight", "pretrain"), 3);
            new PretrainStage(cfg, straight, storage, PretrainStageTest.metrics(), null).run(StageControl.NONE);

            S3Uri root = s3.settings("runs").stageRoot("damaged", "pretrain");
            CheckpointStore store = new CheckpointStore(storage, root, 3);
            StageOutcome stopped = new PretrainStage(cfg, store, storage, PretrainStageTest.metrics(), null)
                    .run(stopAt(23));
            assertEquals(23, stopped.step());
            assertEquals(List.of("step-000000023-e000001", "step-000000020-e000001", "step-000000015-e000001"),
                    store.stepDirs());

            Path weights = s3.bucketDir().resolve(root.resolve("step-000000023-e000001/model.safetensors").key());
            byte[] bytes = Files.readAllBytes(weights);
            bytes[bytes.length / 2] ^= 0x01;
            Files.write(weights, bytes);
            storage.delete(root.resolve("step-000000020-e000001/optimizer.safetensors"));

            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            storeLog.addAppender(logged);
            StageOutcome resumed = new PretrainStage(cfg, store, storage,
                    new TrainingMetrics(registry, "damaged", "pretrain"), null).run(StageControl.NONE);
            storeLog.detachAppender(logged);

            assertTrue(resumed.completed());
            assertEquals(2.0, registry.get("forge_checkpoint_corrupt_skipped").counter().count());
            assertEquals(1.0, registry.get("forge_resumes").counter().count());
            List<String> warnings = logged.list.stream().filter(e -> e.getLevel() == Level.WARN)
                    .map(ILoggingEvent::getFormattedMessage).toList();
            assertTrue(warnings.stream().anyMatch(w -> w.startsWith("skipping checkpoint " + root.resolve("step-000000023-e000001"))
                    && w.contains("model.safetensors sha256")), warnings.toString());
            assertTrue(warnings.stream().anyMatch(w -> w.startsWith("skipping checkpoint " + root.resolve("step-000000020-e000001"))
                    && w.endsWith("missing file optimizer.safetensors")), warnings.toString());
            assertTrue(warnings.contains("using checkpoint " + root.resolve("step-000000015-e000001")
                    + ": the newer step-000000023-e000001, step-000000020-e000001 could not be loaded"), warnings.toString());

            assertArrayEquals(straight.loadFinal().orElseThrow().file("model.safetensors"),
                    store.loadFinal().orElseThrow().file("model.safetensors"));
            assertArrayEquals(straight.loadFinal().orElseThrow().file("optimizer.safetensors"),
                    store.loadFinal().orElseThrow().file("optimizer.safetensors"));
        } finally {
            storeLog.detachAppender(logged);
        }
    }

    private static StageControl stopAt(long step) {
        AtomicLong at = new AtomicLong();
        return new StageControl() {
            @Override
            public void progress(TrainingProgress p) {
                at.set(p.step());
            }

            @Override
            public void milestone(TrainingProgress p) {
            }

            @Override
            public boolean stopRequested() {
                return at.get() >= step;
            }
        };
    }
}
