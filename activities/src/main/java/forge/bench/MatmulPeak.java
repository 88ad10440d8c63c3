package forge.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The matrix-multiply peak of this machine as the engine reaches it: square fp32 matmuls of several sizes, each
 * repeated for a fixed time. MFU is quoted against the best of them, measured in the same run as the training it
 * judges, so that a loaded or throttled machine lowers both figures alike.
 */
public final class MatmulPeak {
    public static final List<Integer> DEFAULT_SIZES = List.of(256, 512, 1024, 2048);

    /** @param gflops billions of floating-point operations per second (a multiply-add counts as two) */
    public record Point(int n, int repeats, double seconds, double gflops) {}

    public record Result(List<Point> points) {
        public Point best() {
            return points.stream().max((a, b) -> Double.compare(a.gflops(), b.gflops())).orElseThrow();
        }
    }

    private MatmulPeak() {}

    /** @param secondsPerSize how long each size is repeated after its warm-up */
    public static Result measure(List<Integer> sizes, double secondsPerSize, Consumer<String> progress) {
        List<Point> points = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            for (int n : sizes) {
                try (NDManager m = manager.newSubManager()) {
                    NDArray a = m.randomNormal(new Shape(n, n));
                    NDArray b = m.randomNormal(new Shape(n, n));
                    for (int i = 0; i < 3; i++) {
                        a.matMul(b).close();
                    }
                    int repeats = 0;
                    long t0 = System.nanoTime();
                    long deadline = t0 + (long) (secondsPerSize * 1e9);
                    do {
                        // CPU ops run synchronously; on a GPU the read-back of one element waits for the product.
                        try (NDArray c = a.matMul(b)) {
                            c.get(0, 0).getFloat();
                        }
                        repeats++;
                    } while (System.nanoTime() < deadline);
                    double s = (System.nanoTime() - t0) / 1e9;
                    Point p = new Point(n, repeats, s, 2.0 * n * n * n * repeats / s / 1e9);
                    points.add(p);
                    progress.accept(String.format(java.util.Locale.ROOT, "matmul %d x %d: %.1f GFLOP/s (%d in %.2f s)",
                            n, n, p.gflops(), repeats, s));
                }
            }
        }
        return new Result(points);
    }
}
