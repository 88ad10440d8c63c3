package forge.bench;

import forge.model.GptConfig;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MatmulPeakTest {
    @Test
    void measuresEverySizeAndPicksTheFastest() {
        List<String> progress = new ArrayList<>();
        MatmulPeak.Result r = MatmulPeak.measure(List.of(32, 128), 0.05, progress::add);
        assertEquals(2, r.points().size());
        for (MatmulPeak.Point p : r.points()) {
            assertTrue(p.repeats() >= 1 && p.gflops() > 0, p.toString());
            assertEquals(2.0 * p.n() * p.n() * p.n() * p.repeats() / p.seconds() / 1e9, p.gflops(), 1e-9);
        }
        assertEquals(r.points().stream().mapToDouble(MatmulPeak.Point::gflops).max().orElseThrow(), r.best().gflops());
        assertEquals(2, progress.size());
    }

    @Test
    void flopsPerTokenAreNanoGptsEstimate() {
        // The baby Shakespeare model: 4 layers, 128 wide, context 64, vocabulary 65 (nanoGPT's bias=True count).
        GptConfig c = new GptConfig(65, 64, 4, 4, 128, 0.0, true);
        assertEquals(809_856, c.parameterCount());
        // nanoGPT prints "number of parameters: 0.80M": without the position embeddings, 801,664.
        assertEquals(6 * 801_664 + 12.0 * 4 * 128 * 64, Flops.trainingPerToken(c));
    }
}
