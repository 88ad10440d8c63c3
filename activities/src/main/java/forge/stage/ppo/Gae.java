package forge.stage.ppo;

/**
 * Generalised advantage estimation (Schulman et al. 2016) over each response's tokens, on the host: rows are
 * independent episodes, the last action's next value is 0 (the episode ends), and positions outside a row's
 * [from, to) range are left at 0. Returns are advantages plus values, the critic's regression target.
 */
public final class Gae {
    private Gae() {
    }

    /** advantages and returns, (rows · width) row-major like the inputs. */
    public record Result(float[] advantages, float[] returns) {}

    /**
     * @param rewards (rows · width) per-action rewards
     * @param values  (rows · width) the critic's value of the state each action was taken in
     * @param from    per row, the first action position
     * @param to      per row, one past the last action position
     */
    public static Result compute(float[] rewards, float[] values, int rows, int width, int[] from, int[] to,
                                 double gamma, double lambda) {
        float[] adv = new float[rows * width];
        float[] ret = new float[rows * width];
        for (int r = 0; r < rows; r++) {
            double next = 0;
            double running = 0;
            for (int j = to[r] - 1; j >= from[r]; j--) {
                int i = r * width + j;
                double delta = rewards[i] + gamma * next - values[i];
                running = delta + gamma * lambda * running;
                adv[i] = (float) running;
                ret[i] = (float) (running + values[i]);
                next = values[i];
            }
        }
        return new Result(adv, ret);
    }

    /**
     * Shifts and scales the advantages at mask positions to mean 0 and standard deviation 1 (TRL's whiten, unbiased
     * variance), in place; other positions stay 0. Fewer than two positions are left as they are.
     */
    public static void whiten(float[] advantages, float[] mask) {
        double n = 0;
        double sum = 0;
        for (int i = 0; i < advantages.length; i++) {
            n += mask[i];
            sum += mask[i] * advantages[i];
        }
        if (n < 2) {
            return;
        }
        double mean = sum / n;
        double sq = 0;
        for (int i = 0; i < advantages.length; i++) {
            double d = advantages[i] - mean;
            sq += mask[i] * d * d;
        }
        double std = Math.sqrt(sq / (n - 1));
        for (int i = 0; i < advantages.length; i++) {
            advantages[i] = mask[i] > 0 ? (float) ((advantages[i] - mean) / (std + 1e-8)) : 0f;
        }
    }
}
