package forge.demo;

import java.util.List;
import java.util.SplittableRandom;

/** Every generated item gets its own random stream, so item i never depends on how many items came before it. */
final class Rng {
    private Rng() {
    }

    /** SplitMix64's finaliser: a good 64-bit mix, stable across JVMs. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static SplittableRandom stream(long seed, long purpose, long index) {
        return new SplittableRandom(mix(mix(mix(seed) ^ purpose) + index));
    }

    static <T> T pick(SplittableRandom r, List<T> items) {
        return items.get(r.nextInt(items.size()));
    }

    static <T> T pick(SplittableRandom r, T[] items) {
        return items[r.nextInt(items.length)];
    }
}
