package forge.optim;

import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LrScheduleTest {

    @Test
    void followsNanoGptsGetLr() {
        AdamWConfig c = new AdamWConfig(1.0, 0.1, 10, 100, 0.9, 0.95, 1e-8, 0.1, 1.0);
        assertEquals(1.0 / 11, LrSchedule.at(c, 0), 1e-15);
        assertEquals(10.0 / 11, LrSchedule.at(c, 9), 1e-15);
        assertEquals(1.0, LrSchedule.at(c, 10), 1e-15);
        assertEquals(0.55, LrSchedule.at(c, 55), 1e-15);
        assertEquals(0.1 + 0.45 * (1 + Math.cos(Math.PI * 0.3)), LrSchedule.at(c, 37), 1e-15);
        assertEquals(0.1, LrSchedule.at(c, 100), 1e-15);
        assertEquals(0.1, LrSchedule.at(c, 101), 1e-15);
        assertEquals(0.1, LrSchedule.at(c, 1_000_000), 1e-15);
        AdamWConfig noDecayRoom = new AdamWConfig(1.0, 0.1, 5, 5, 0.9, 0.95, 1e-8, 0.1, 1.0);
        assertEquals(0.1, LrSchedule.at(noDecayRoom, 5), 1e-15);
        // The baby Shakespeare run's numbers.
        AdamWConfig baby = AdamWConfig.nanoGptBaby();
        assertEquals(1e-3 / 101, LrSchedule.at(baby, 0), 1e-18);
        assertEquals(1e-3, LrSchedule.at(baby, 100), 1e-18);
        assertEquals(1e-4, LrSchedule.at(baby, 2000), 1e-18);
    }

    private static String error(Runnable r) {
        return assertThrows(BadInputException.class, r::run).getMessage();
    }

    @Test
    void configValidationNamesTheField() {
        assertEquals("train.learning_rate: must be > 0, got 0.0",
                error(() -> new AdamWConfig(0, 0, 0, 0, 0.9, 0.95, 1e-8, 0, 0)));
        assertEquals("train.min_lr: must be in [0, train.learning_rate (0.001)], got 0.01",
                error(() -> new AdamWConfig(1e-3, 1e-2, 0, 0, 0.9, 0.95, 1e-8, 0, 0)));
        assertEquals("train.warmup_steps: must be >= 0, got -1",
                error(() -> new AdamWConfig(1e-3, 0, -1, 0, 0.9, 0.95, 1e-8, 0, 0)));
        assertEquals("train.lr_decay_steps: must be >= train.warmup_steps (10), got 5",
                error(() -> new AdamWConfig(1e-3, 0, 10, 5, 0.9, 0.95, 1e-8, 0, 0)));
        assertEquals("train.beta1: must be in [0, 1), got 1.0",
                error(() -> new AdamWConfig(1e-3, 0, 0, 0, 1, 0.95, 1e-8, 0, 0)));
        assertEquals("train.beta2: must be in [0, 1), got -0.5",
                error(() -> new AdamWConfig(1e-3, 0, 0, 0, 0.9, -0.5, 1e-8, 0, 0)));
        assertEquals("train.eps: must be > 0, got 0.0",
                error(() -> new AdamWConfig(1e-3, 0, 0, 0, 0.9, 0.95, 0, 0, 0)));
        assertEquals("train.weight_decay: must be >= 0, got -0.1",
                error(() -> new AdamWConfig(1e-3, 0, 0, 0, 0.9, 0.95, 1e-8, -0.1, 0)));
        assertEquals("train.grad_clip: must be >= 0 (0 = off), got NaN",
                error(() -> new AdamWConfig(1e-3, 0, 0, 0, 0.9, 0.95, 1e-8, 0, Double.NaN)));
    }
}
