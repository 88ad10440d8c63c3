package forge.model;

import forge.errors.BadInputException;

/**
 * Rotary position embedding (Su et al.) as Hugging Face's Llama-family configs describe it: base θ and an optional
 * frequency scaling ({@code rope_scaling} / {@code rope_parameters}).
 *
 * @param theta            rope_theta, the base of the inverse frequencies θ^(-2i/d)
 * @param type             "default", "linear" (positions divided by factor) or "llama3" (Llama 3.1's
 *                         frequency-dependent scaling)
 * @param factor           linear, llama3: the scaling factor; 1 otherwise
 * @param lowFreqFactor    llama3 only
 * @param highFreqFactor   llama3 only
 * @param originalContext  llama3 only: original_max_position_embeddings
 */
public record RopeConfig(double theta, String type, double factor, double lowFreqFactor, double highFreqFactor,
                         int originalContext) {
    public static final String DEFAULT = "default";
    public static final String LINEAR = "linear";
    public static final String LLAMA3 = "llama3";

    public RopeConfig {
        if (!(theta > 0) || Double.isInfinite(theta)) {
            throw BadInputException.field("rope_theta", "must be a finite number > 0, got " + theta);
        }
        switch (type) {
            case DEFAULT -> {
                factor = 1;
            }
            case LINEAR -> positive("rope_scaling.factor", factor);
            case LLAMA3 -> {
                positive("rope_scaling.factor", factor);
                positive("rope_scaling.low_freq_factor", lowFreqFactor);
                positive("rope_scaling.high_freq_factor", highFreqFactor);
                if (highFreqFactor <= lowFreqFactor) {
                    throw BadInputException.field("rope_scaling.high_freq_factor", "must be greater than "
                            + "low_freq_factor (" + lowFreqFactor + "), got " + highFreqFactor);
                }
                if (originalContext <= 0) {
                    throw BadInputException.field("rope_scaling.original_max_position_embeddings",
                            "must be > 0, got " + originalContext);
                }
            }
            default -> throw BadInputException.field("rope_scaling.rope_type", "\"" + type + "\" is not supported "
                    + "(supported: default, linear, llama3)");
        }
    }

    public static RopeConfig plain(double theta) {
        return new RopeConfig(theta, DEFAULT, 1, 0, 0, 0);
    }

    private static void positive(String field, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw BadInputException.field(field, "must be a finite number > 0, got " + v);
        }
    }
}
