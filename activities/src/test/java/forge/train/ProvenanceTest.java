package forge.train;

import forge.stage.TinyStages;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.pretrain.PretrainStageTest;
import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.Manifest;
import forge.storage.S3Uri;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every checkpoint says what produced it; a resume elsewhere works and says that it is no longer bit-exact. */
class ProvenanceTest {
    @TempDir
    Path dir;

    @Test
    void aCheckpointRecordsItsProducerAndAResumeElsewhereSaysItIsNotBitExact() throws Exception {
        try (TinyStages tiny = new TinyStages(dir)) {
            PretrainConfig cfg = PretrainConfig.parse(PretrainStageTest.spec(20));
            AtomicLong step = new AtomicLong();
            StageControl stopAt10 = new StageControl() {
                public void progress(TrainingProgress p) { step.set(p.step()); }
                public void milestone(TrainingProgress p) {}
                public boolean stopRequested() { return step.get() >= 10; }
            };
            CheckpointStore store = tiny.store("moved", "pretrain");
            new PretrainStage(cfg, store, tiny.storage, PretrainStageTest.metrics(), null).run(stopAt10);
            LoadedCheckpoint stop = tiny.store("moved", "pretrain").latest().orElseThrow();
            Map<String, String> producer = stop.producer();
            for (String key : Provenance.EXACTNESS_KEYS) {
                assertTrue(producer.containsKey(key), key + " missing from " + producer);
            }
            assertEquals("float32", producer.get("dtype"));
            assertTrue(producer.get("engine").startsWith("PyTorch 2.7.1"), producer.get("engine"));

            // The same checkpoint, as if written on other hardware.
            S3Uri manifestUri = stop.uri().resolve(Manifest.FILE_NAME);
            ObjectNode manifest = (ObjectNode) new ObjectMapper().readTree(tiny.storage.get(manifestUri));
            ((ObjectNode) manifest.get("producer")).put("hardware", "NVIDIA H100 80GB HBM3").put("threads", "8");
            tiny.storage.put(manifestUri, new ObjectMapper().writeValueAsBytes(manifest));

            Logger loopLog = (Logger) LoggerFactory.getLogger(TrainingLoop.class);
            ListAppender<ILoggingEvent> logged = new ListAppender<>();
            logged.start();
            loopLog.addAppender(logged);
            StageOutcome resumed;
            try {
                resumed = new PretrainStage(cfg, tiny.store("moved", "pretrain"), tiny.storage,
                        PretrainStageTest.metrics(), null).run(StageControl.NONE);
            } finally {
                loopLog.detachAppender(logged);
            }
            assertTrue(resumed.completed(), "a resume on other hardware works");
            assertEquals(1.0, resumed.metrics().get("resumesOnOtherHardware"));
            String warning = logged.list.stream().filter(e -> e.getLevel() == Level.WARN)
                    .map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains("different hardware"))
                    .findFirst().orElseThrow(() -> new AssertionError("no warning: " + logged.list));
            assertTrue(warning.contains("hardware: NVIDIA H100 80GB HBM3 -> ") && warning.contains("threads: 8 -> ")
                    && warning.contains("bit-identical"), warning);
            assertEquals(producer, tiny.store("moved", "pretrain").loadFinal().orElseThrow().producer(),
                    "final/ records where it was written");

            // On the same hardware there is nothing to say; before provenance was recorded, nothing to compare.
            assertTrue(Provenance.differences(producer, producer).isEmpty());
            assertTrue(Provenance.differences(Map.of(), producer).isEmpty());
        }
    }
}
