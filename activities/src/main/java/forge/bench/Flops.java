package forge.bench;

import forge.model.GptConfig;

/** Model FLOPs as nanoGPT's estimate_mfu counts them, so that MFU figures compare with its logs. */
public final class Flops {
    private Flops() {}

    /**
     * Training FLOPs per token, forward and backward: 6N for the weights (N without the position embeddings, which
     * are looked up, not multiplied; the tied token embedding counts, as the LM head) plus 12·L·C·T for attention's
     * two T-long matmuls per head.
     */
    public static double trainingPerToken(GptConfig c) {
        double n = c.parameterCount() - (double) c.blockSize() * c.nEmbd();
        return 6 * n + 12.0 * c.nLayer() * c.nEmbd() * c.blockSize();
    }
}
