package forge.optim;

/**
 * The gradients of a step have a NaN or infinite global norm. {@link AdamW} refuses to apply them (and zeroes them),
 * so the weights and the moments stay those of the last good step; the caller decides what the stage does.
 */
public final class NonFiniteGradientException extends RuntimeException {
    private final double gradNorm;

    public NonFiniteGradientException(double gradNorm) {
        super("gradient norm is " + gradNorm);
        this.gradNorm = gradNorm;
    }

    public double gradNorm() {
        return gradNorm;
    }
}
