package forge.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import forge.optim.AdamW;
import forge.optim.AdamWConfig;

/**
 * Not a test: milliseconds per training step (forward, backward, AdamW) for nanoGPT's CPU "baby" Shakespeare
 * config. Run with the test classpath: java forge.model.TrainStepBenchmark [steps] [dropout].
 */
public final class TrainStepBenchmark {
    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 50;
        double dropout = args.length > 1 ? Double.parseDouble(args[1]) : 0.0;
        GptConfig cfg = new GptConfig(65, 64, 4, 4, 128, dropout, true);
        int batch = 12;
        try (NDManager root = NDManager.newBaseManager();
             Gpt g = Gpt.create(root, cfg, 1);
             AdamW opt = new AdamW(root, g.parameters(), AdamWConfig.nanoGptBaby())) {
            long fwd = 0;
            long bwd = 0;
            long upd = 0;
            long start = 0;
            long chunkStart = 0;
            double best = Double.MAX_VALUE;
            for (int step = -10; step < steps; step++) {
                if (step == 0) {
                    start = System.nanoTime();
                    fwd = bwd = upd = 0;
                }
                if (step >= 0 && step % 10 == 0) {
                    if (step > 0) {
                        best = Math.min(best, (System.nanoTime() - chunkStart) / 1e6 / 10);
                    }
                    chunkStart = System.nanoTime();
                }
                try (NDScope scope = new NDScope(); NDManager data = root.newSubManager()) {
                    NDArray x = data.randomInteger(0, 65, new Shape(batch, 64), DataType.INT64);
                    NDArray y = data.randomInteger(0, 65, new Shape(batch, 64), DataType.INT64);
                    long t0 = System.nanoTime();
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray loss = Gpt.crossEntropy(g.forward(x, true), y, null);
                        loss.getFloat();
                        long t1 = System.nanoTime();
                        gc.backward(loss);
                        long t2 = System.nanoTime();
                        fwd += t1 - t0;
                        bwd += t2 - t1;
                    }
                    long t3 = System.nanoTime();
                    opt.step(Math.max(step, 0));
                    upd += System.nanoTime() - t3;
                }
            }
            best = Math.min(best, (System.nanoTime() - chunkStart) / 1e6 / 10);
            double total = (System.nanoTime() - start) / 1e6 / steps;
            System.out.printf("best chunk of 10 steps: %.1f ms/step%n", best);
            System.out.printf("params %,d; %.1f ms/step (forward %.1f, backward %.1f, adamw %.1f) over %d steps%n",
                    cfg.parameterCount(), total, fwd / 1e6 / steps, bwd / 1e6 / steps, upd / 1e6 / steps, steps);
        }
    }
}
