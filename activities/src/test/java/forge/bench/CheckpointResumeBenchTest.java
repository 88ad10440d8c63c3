package forge.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointResumeBenchTest {
    @Test
    void aTinyStateIsCommittedKilledMidUploadAndResumedBitExactFromTheLastCommit(@TempDir Path dir) {
        List<String> progress = new ArrayList<>();
        // 1M parameters in 64K-parameter tensors, 1 MB shards: 12 MB of state in about a dozen shards.
        CheckpointResumeBench.Settings s = new CheckpointResumeBench.Settings(List.of(1_000_000L), 65_536,
                1_000_000, "256m", dir, 7);
        CheckpointResumeBench.Result r = CheckpointResumeBench.run(s, progress::add);
        CheckpointResumeBench.Row row = r.rows().get(0);
        assertTrue(row.shards() >= 8, "shards: " + row.shards());
        assertTrue(row.killedMidUpload(), progress.toString());
        assertTrue(row.tornBytesWritten() > 0);
        assertEquals(1, row.resumedStep(), "the torn step 2 must not load");
        assertTrue(row.bitExact());
        assertEquals(999_424L * 12, row.stateBytes());
        assertTrue(row.held(s.heapCapBytes()), r.markdown());
        assertTrue(r.held());
        assertTrue(r.markdown().contains("bound held"), r.markdown());
    }

    @Test
    void paramsAcceptSuffixes() {
        assertEquals(List.of(125_000_000L, 1_500_000_000L, 2_000L, 42L),
                CheckpointResumeBench.parseParams("125M, 1.5B,2k,42"));
    }
}
