package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.norm.Dropout;

/** Dropout that costs nothing when off; draws from the torch RNG (see {@link Gpt} on seeding). */
final class Dropouts {
    private Dropouts() {
    }

    static NDArray apply(NDArray x, double p, boolean training) {
        if (!training || p == 0) {
            return x;
        }
        return Dropout.dropout(x, (float) p, true).singletonOrThrow();
    }
}
