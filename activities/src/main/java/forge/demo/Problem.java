package forge.demo;

/** One arithmetic fact of the world, whatever words a question wraps it in. */
record Problem(Op op, int a, int b) {
    // Five buckets, one held out: about a fifth of all problems never appear in training questions.
    private static final int BUCKETS = 5;

    Problem {
        if (!op.valid(a, b)) {
            throw new IllegalArgumentException("not a problem of the demo world: " + a + " " + op + " " + b);
        }
    }

    int answer() {
        return op.apply(a, b);
    }

    /**
     * Whether questions about this problem are held out. A hash of the operands alone (not the seed or the wording)
     * so no held-out problem leaks into training in another phrasing or another world.
     */
    boolean heldOut() {
        long h = Rng.mix(0x5EED_F0A6L + op.ordinal() * 1_000_003L + a * 1_009L + b);
        return Math.floorMod(h, BUCKETS) == 0;
    }

    Split split() {
        return heldOut() ? Split.HELD_OUT : Split.TRAIN;
    }
}
