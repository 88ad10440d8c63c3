package forge.bench;

import forge.model.GptConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointIoBenchTest {
    @Test
    void aSmallCheckpointRoundTripsThroughEmbeddedS3WithPositiveRates(@TempDir Path dir) throws Exception {
        List<String> progress = new ArrayList<>();
        CheckpointIoBench.Result r = CheckpointIoBench.measure(CheckpointIoBench.Settings.ofSize(2, 1, dir),
                progress::add);
        // Moments are twice the weights (plus headers), and the whole is near the size asked for.
        assertEquals(2.0, (double) r.optimizerBytes() / r.modelBytes(), 0.01);
        assertEquals(2.0, r.totalBytes() / 1048576.0, 0.5);
        for (double[] seconds : List.of(r.diskWriteSync(), r.diskRead(), r.serialize(), r.commit(), r.latest(),
                r.load())) {
            assertTrue(r.rate(seconds) > 0 && Double.isFinite(r.rate(seconds)));
        }
        String md = r.section().markdown();
        assertTrue(md.contains("S3 commit") && md.contains("MiB/s"), md);
        assertTrue(progress.get(progress.size() - 2).startsWith("warm-up"), progress.toString());
        assertTrue(progress.get(progress.size() - 1).startsWith("round 1/1"), progress.toString());
        // The caller's folder stays, the objects and probe files do not.
        assertTrue(Files.isDirectory(dir));
        try (var left = Files.list(dir)) {
            assertFalse(left.findAny().isPresent());
        }
    }

    @Test
    void sizesPickAModelOfAboutThatCheckpoint() {
        for (int mib : new int[] {1, 24, 346, 1200}) {
            GptConfig c = CheckpointIoBench.modelOfSize(mib);
            assertEquals(mib, c.parameterCount() * 12 / 1048576.0, Math.max(0.5, mib * 0.02), "for " + mib);
        }
    }
}
