package forge.demo;

/** The arithmetic of the demo world, with the operand ranges that keep every answer in 0..100. */
enum Op {
    PLUS(20, 20),
    MINUS(20, 20),
    TIMES(10, 10);

    final int maxA;
    final int maxB;

    Op(int maxA, int maxB) {
        this.maxA = maxA;
        this.maxB = maxB;
    }

    int apply(int a, int b) {
        switch (this) {
            case PLUS:
                return a + b;
            case MINUS:
                return a - b;
            default:
                return a * b;
        }
    }

    /** Minus never goes below zero: the world has no negative apples. */
    boolean valid(int a, int b) {
        return a >= 0 && b >= 0 && a <= maxA && b <= maxB && (this != MINUS || b <= a);
    }
}
