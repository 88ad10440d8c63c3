package forge.stage.ppo;

/**
 * The KL penalty's coefficient β. Fixed, or adaptive as in Ziegler et al. (2019) and older TRL: after each rollout
 * batch, β ← β · (1 + clip(KL / target − 1, −0.2, 0.2) · n / horizon), where KL is the batch's mean per-response
 * KL to the reference and n its number of responses. β is part of a checkpoint's state, so a resumed run continues
 * with the coefficient it had.
 */
public final class KlController {
    private final boolean adaptive;
    private final double target;
    private final double horizon;
    private double coef;

    public KlController(double coef, boolean adaptive, double target, double horizon) {
        this.coef = coef;
        this.adaptive = adaptive;
        this.target = target;
        this.horizon = horizon;
    }

    public double coef() {
        return coef;
    }

    public void update(double meanKl, int responses) {
        if (!adaptive) {
            return;
        }
        double error = Math.max(-0.2, Math.min(0.2, meanKl / target - 1));
        coef *= 1 + error * responses / horizon;
    }
}
