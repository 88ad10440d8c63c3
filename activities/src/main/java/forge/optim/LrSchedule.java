package forge.optim;

/** nanoGPT's get_lr, step for step, so that runs compare with its logs. */
public final class LrSchedule {
    private LrSchedule() {
    }

    public static double at(AdamWConfig c, long step) {
        if (step < c.warmupSteps()) {
            return c.learningRate() * (step + 1) / (c.warmupSteps() + 1);
        }
        if (step > c.decaySteps()) {
            return c.minLr();
        }
        // decaySteps == warmupSteps leaves no room to decay; nanoGPT would divide by zero here.
        double ratio = c.decaySteps() == c.warmupSteps() ? 1.0
                : (double) (step - c.warmupSteps()) / (c.decaySteps() - c.warmupSteps());
        double coeff = 0.5 * (1.0 + Math.cos(Math.PI * ratio));
        return c.minLr() + coeff * (c.learningRate() - c.minLr());
    }
}
