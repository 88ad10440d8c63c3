package forge.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The parts of {@code ./forge bench memory} a leak verdict rests on; the 20,000-step run itself is too long here. */
class MemoryBenchTest {

    @Test
    void theSlopeIsTheLeastSquaresLine() {
        MemoryBench.Fit f = MemoryBench.Fit.of(new double[] {0, 1000, 2000, 3000}, new double[] {10, 12, 14, 16});
        assertEquals(0.002, f.slope(), 1e-12);
        assertEquals(10, f.intercept(), 1e-9);
        // Noise around a flat line fits a slope near zero, not the spread of the points.
        MemoryBench.Fit flat = MemoryBench.Fit.of(new double[] {0, 1, 2, 3, 4, 5}, new double[] {5, 7, 5, 7, 5, 7});
        assertEquals(3.0 / 17.5, flat.slope(), 1e-12);
        assertTrue(Double.isNaN(MemoryBench.Fit.of(new double[] {1}, new double[] {1}).slope()));
    }

    @Test
    void liveArraysCountsAnArrayUntilItIsClosed() {
        MemoryBench.LiveArrays live = new MemoryBench.LiveArrays();
        try (NDManager m = NDManager.newBaseManager()) {
            long before = live.count();
            assertTrue(before >= 0, "DJL's managers could not be read");
            NDArray a = m.zeros(new ai.djl.ndarray.types.Shape(4));
            NDArray b = m.ones(new ai.djl.ndarray.types.Shape(4));
            assertEquals(before + 2, live.count());
            a.close();
            b.close();
            assertEquals(before, live.count());
        }
    }

    @Test
    void aRunWithoutGrowthMeetsTheTargetsAndOneWithGrowthMissesThem() {
        MemoryBench.Settings s = new MemoryBench.Settings(4000, 1000, 1000, 1000, 500, 1);
        double mb = 1024 * 1024;
        List<MemoryBench.Sample> flat = List.of(
                new MemoryBench.Sample(0, 0, (long) (200 * mb), 1, 2, 20, 10, -1),
                new MemoryBench.Sample(1000, 10, (long) (300 * mb), 1, 2, 40, 19, 90),
                new MemoryBench.Sample(2000, 20, (long) (300.5 * mb), 1, 2, 40, 19, 90),
                new MemoryBench.Sample(3000, 30, (long) (300 * mb), 1, 2, 40, 19, 90));
        BenchSection ok = MemoryBench.section(new MemoryBench.Result(s, flat, 40, null));
        assertTrue(ok.rows().stream().allMatch(r -> r.met() == null || r.met()), ok.markdown());
        assertTrue(ok.markdown().contains("+0.000 MB per 1,000 steps"), ok.markdown());

        List<MemoryBench.Sample> leaking = List.of(
                new MemoryBench.Sample(0, 0, (long) (200 * mb), 1, 2, 20, 10, -1),
                new MemoryBench.Sample(1000, 10, (long) (300 * mb), 1, 2, 40, 19, 90),
                new MemoryBench.Sample(2000, 20, (long) (305 * mb), 1, 2, 40, 19, 190),
                new MemoryBench.Sample(3000, 30, (long) (310 * mb), 1, 2, 40, 19, 290));
        BenchSection bad = MemoryBench.section(new MemoryBench.Result(s, leaking, 40, null));
        assertEquals(2, bad.rows().stream().filter(r -> Boolean.FALSE.equals(r.met())).count(), bad.markdown());
        assertTrue(bad.markdown().contains("+5.000 MB per 1,000 steps (+1800.0 MB/h)"), bad.markdown());
    }

    @Test
    void settingsRefuseARunTooShortToFit() {
        assertThrows(BadInputException.class, () -> MemoryBench.Settings.ofSteps(1));
        assertThrows(BadInputException.class, () -> new MemoryBench.Settings(100, 100, 10, 10, 500, 1));
        MemoryBench.Settings d = MemoryBench.Settings.defaults();
        assertEquals(20_000, d.steps());
        assertEquals(2_000, d.warmupSteps());
        assertFalse(d.checkpointEvery() > 1000);
    }
}
