package forge.model;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from one row of logits on the host, in doubles and with a Java RNG, so that the same seed
 * gives the same tokens whatever the engine's own RNG has been doing.
 */
final class Sampler {
    private Sampler() {
    }

    static int sample(float[] logits, GenerationOptions o, SplittableRandom rng) {
        int v = logits.length;
        if (o.temperature() == 0) {
            int best = 0;
            for (int i = 1; i < v; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
        double[] p = new double[v];
        for (int i = 0; i < v; i++) {
            p[i] = logits[i] / o.temperature();
        }
        if (o.topK() > 0 && o.topK() < v) {
            // As nanoGPT: everything below the k-th largest goes; ties with it stay.
            double[] sorted = p.clone();
            Arrays.sort(sorted);
            double kth = sorted[v - o.topK()];
            for (int i = 0; i < v; i++) {
                if (p[i] < kth) {
                    p[i] = Double.NEGATIVE_INFINITY;
                }
            }
        }
        softmaxInPlace(p);
        if (o.topP() < 1) {
            nucleusInPlace(p, o.topP());
        }
        double total = 0;
        for (double x : p) {
            total += x;
        }
        double u = rng.nextDouble() * total;
        double cum = 0;
        int last = 0;
        for (int i = 0; i < v; i++) {
            if (p[i] > 0) {
                cum += p[i];
                last = i;
                if (u < cum) {
                    return i;
                }
            }
        }
        return last;
    }

    private static void softmaxInPlace(double[] p) {
        double max = Double.NEGATIVE_INFINITY;
        for (double x : p) {
            max = Math.max(max, x);
        }
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(p[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
    }

    /** Keeps the smallest most-likely set whose mass reaches topP (the token that crosses it stays, as in HF). */
    private static void nucleusInPlace(double[] p, double topP) {
        Integer[] order = new Integer[p.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        // Stable sort: equal probabilities keep index order, so the cut is deterministic.
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        double cum = 0;
        int keep = 0;
        while (keep < order.length && cum < topP) {
            cum += p[order[keep]];
            keep++;
        }
        for (int i = Math.max(keep, 1); i < order.length; i++) {
            p[order[i]] = 0;
        }
    }
}
