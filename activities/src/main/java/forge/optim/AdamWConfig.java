package forge.optim;

import forge.errors.BadInputException;

/**
 * AdamW hyperparameters and nanoGPT's learning-rate schedule: linear warmup over warmupSteps, cosine decay to
 * minLr at decaySteps, minLr after. gradClip 0 turns global-norm clipping off. lossScaling puts a {@link LossScaler}
 * in front of the update (train.precision: fp16).
 */
public record AdamWConfig(double learningRate, double minLr, int warmupSteps, int decaySteps, double beta1,
                          double beta2, double eps, double weightDecay, double gradClip, boolean lossScaling) {

    /** Without loss scaling: fp32 training. */
    public AdamWConfig(double learningRate, double minLr, int warmupSteps, int decaySteps, double beta1,
                       double beta2, double eps, double weightDecay, double gradClip) {
        this(learningRate, minLr, warmupSteps, decaySteps, beta1, beta2, eps, weightDecay, gradClip, false);
    }

    public AdamWConfig {
        if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
            throw BadInputException.field("train.learning_rate", "must be > 0, got " + learningRate);
        }
        if (!(minLr >= 0 && minLr <= learningRate)) {
            throw BadInputException.field("train.min_lr",
                    "must be in [0, train.learning_rate (" + learningRate + ")], got " + minLr);
        }
        if (warmupSteps < 0) {
            throw BadInputException.field("train.warmup_steps", "must be >= 0, got " + warmupSteps);
        }
        if (decaySteps < warmupSteps) {
            throw BadInputException.field("train.lr_decay_steps",
                    "must be >= train.warmup_steps (" + warmupSteps + "), got " + decaySteps);
        }
        if (!(beta1 >= 0 && beta1 < 1)) {
            throw BadInputException.field("train.beta1", "must be in [0, 1), got " + beta1);
        }
        if (!(beta2 >= 0 && beta2 < 1)) {
            throw BadInputException.field("train.beta2", "must be in [0, 1), got " + beta2);
        }
        if (!(eps > 0) || Double.isInfinite(eps)) {
            throw BadInputException.field("train.eps", "must be > 0, got " + eps);
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw BadInputException.field("train.weight_decay", "must be >= 0, got " + weightDecay);
        }
        if (!(gradClip >= 0) || Double.isInfinite(gradClip)) {
            throw BadInputException.field("train.grad_clip", "must be >= 0 (0 = off), got " + gradClip);
        }
    }

    /** nanoGPT's defaults for the Shakespeare-char "baby" run. */
    public static AdamWConfig nanoGptBaby() {
        return new AdamWConfig(1e-3, 1e-4, 100, 2000, 0.9, 0.99, 1e-8, 0.1, 1.0);
    }
}
