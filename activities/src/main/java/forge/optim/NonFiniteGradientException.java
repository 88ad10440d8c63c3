package forge.optim;

/**
 * The gradients of a step have a NaN or infinite global norm. {@link AdamW} refuses to apply them (and zeroes them),
 * so the weights and the moments stay those of the last good step; the caller decides what the stage does. Under
 * fp16 loss scaling such a step is skipped instead, and this is thrown only when the scale gave out
 * ({@link LossScaler#MIN_SCALE}).
 */
public final class NonFiniteGradientException extends RuntimeException {
    private final double gradNorm;

    public NonFiniteGradientException(double gradNorm) {
        this(gradNorm, "gradient norm is " + gradNorm);
    }

    NonFiniteGradientException(double gradNorm, String message) {
        super(message);
        this.gradNorm = gradNorm;
    }

    public double gradNorm() {
        return gradNorm;
    }
}
