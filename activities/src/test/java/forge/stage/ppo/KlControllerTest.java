package forge.stage.ppo;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class KlControllerTest {
    @Test
    void fixedStaysAndAdaptiveMovesTowardTheTargetWithClippedSteps() {
        KlController fixed = new KlController(0.05, false, 6, 10000);
        fixed.update(100, 32);
        assertEquals(0.05, fixed.coef());

        KlController adaptive = new KlController(0.2, true, 6, 10000);
        adaptive.update(12, 100);  // KL twice the target: the error is clipped to +0.2
        assertEquals(0.2 * (1 + 0.2 * 100 / 10000.0), adaptive.coef(), 1e-12);
        adaptive.update(3, 100);   // half the target: −0.5 clipped to −0.2
        assertEquals(0.2 * (1 + 0.002) * (1 - 0.002), adaptive.coef(), 1e-12);
        adaptive.update(6.6, 1000); // 10% over: not clipped
        assertEquals(0.2 * (1 + 0.002) * (1 - 0.002) * (1 + 0.1 * 0.1), adaptive.coef(), 1e-12);
    }
}
