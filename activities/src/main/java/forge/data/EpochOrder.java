package forge.data;

import java.util.SplittableRandom;

/**
 * Walks n items in epochs, each epoch a fresh permutation seeded by (seed, salt, epoch): every item is seen once per
 * epoch, and position g of the walk is a pure function of g, so a resumed run sees what the original would have.
 * Thread-safe; the permutation of the epoch last asked for is cached.
 */
public final class EpochOrder {
    private final int n;
    private final long seed;
    private final long salt;
    private volatile Perm cached;

    private record Perm(long epoch, int[] order) {}

    public EpochOrder(int n, long seed, long salt) {
        if (n < 1) {
            throw new IllegalArgumentException("nothing to order");
        }
        this.n = n;
        this.seed = seed;
        this.salt = salt;
    }

    /** The item at position g (0, 1, ...) of the walk. */
    public int item(long g) {
        long epoch = g / n;
        Perm p = cached;
        if (p == null || p.epoch != epoch) {
            p = new Perm(epoch, permutation(n, Seeds.mix(seed, salt, epoch)));
            cached = p;
        }
        return p.order[(int) (g % n)];
    }

    /** A uniformly random permutation of 0..n-1 (Fisher–Yates) from a seeded Java RNG. */
    public static int[] permutation(int n, long seed) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = i;
        }
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }
}
