package forge.data;

/** Derives independent random seeds from several numbers, the same on every JVM. */
public final class Seeds {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private Seeds() {
    }

    /** SplitMix64's finaliser. */
    public static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A seed for (parts...) that changes completely when any part changes, including the order. */
    public static long mix(long... parts) {
        long h = 0x6A09E667F3BCC908L;
        for (long p : parts) {
            h = mix64((h + GOLDEN) ^ mix64(p + GOLDEN));
        }
        return h;
    }
}
