package forge.tensor;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

public class EngineArraysTest {

    /** Lets the GC free unreachable direct buffers and refills the freed memory with junk. */
    public static void churnDirectMemory() throws InterruptedException {
        System.gc();
        Thread.sleep(20);
        List<ByteBuffer> junk = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            ByteBuffer b = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder());
            b.putFloat(0, 7777f);
            junk.add(b);
        }
    }

    @Test
    void scaleKeepsItsFactorAliveForBackward() throws InterruptedException {
        // The same graph with x.mul(3f) gets a wrong gradient here: DJL frees the scalar before backward runs.
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray p = EngineArrays.of(m, new float[] {1, 2, 3}, new Shape(3));
            p.setRequiresGradient(true);
            for (int round = 0; round < 5; round++) {
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray y = EngineArrays.scale(p, 3);
                    churnDirectMemory();
                    gc.backward(y.sum());
                }
                assertArrayEquals(new float[] {3, 3, 3}, p.getGradient().toFloatArray());
                EngineArrays.zeroGradient(p);
            }
        }
    }

    @Test
    void copyIntoWritesInPlaceEvenOverNaNAndUnderACollector() throws InterruptedException {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray p = EngineArrays.of(m, new float[] {Float.NaN, Float.POSITIVE_INFINITY, 3, 4}, new Shape(2, 2));
            p.setRequiresGradient(true);
            NDArray view = p.reshape(4);
            // Grad mode on, as inside a training step: an in-place write to a leaf would normally be refused.
            try (GradientCollector ignored = Engine.getInstance().newGradientCollector()) {
                EngineArrays.copyInto(p, HostTensor.f32(new long[] {2, 2}, new float[] {5, 6, 7, 8}));
            }
            churnDirectMemory();
            assertArrayEquals(new float[] {5, 6, 7, 8}, view.toFloatArray(), "same storage, new values");
            assertThrows(IllegalArgumentException.class,
                    () -> EngineArrays.copyInto(p, HostTensor.f32(new long[] {4}, new float[4])));
        }
    }

    @Test
    void zeroGradientClearsNonFiniteGradients() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray p = EngineArrays.of(m, new float[] {1, 2}, new Shape(2));
            p.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(p.mul(EngineArrays.of(m, new float[] {Float.NaN, Float.NEGATIVE_INFINITY}, new Shape(2)))
                        .sum());
            }
            EngineArrays.zeroGradient(p);
            assertArrayEquals(new float[] {0, 0}, p.getGradient().toFloatArray());
        }
    }
}
