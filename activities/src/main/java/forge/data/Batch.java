package forge.data;

import java.util.Arrays;

/**
 * A batch of token windows: {@code inputs} and {@code targets} are (batchSize, blockSize) row-major, and each
 * target is the input one position later.
 */
public record Batch(int batchSize, int blockSize, long[] inputs, long[] targets) {
    public Batch {
        if (batchSize < 1 || blockSize < 1) {
            throw new IllegalArgumentException("batch " + batchSize + " x " + blockSize + " is empty");
        }
        long n = (long) batchSize * blockSize;
        if (inputs.length != n || targets.length != n) {
            throw new IllegalArgumentException("inputs and targets must hold " + n + " tokens, got "
                    + inputs.length + " and " + targets.length);
        }
    }

    /** Content equality: two batches are equal when they hold the same tokens, which is what resume relies on. */
    @Override
    public boolean equals(Object o) {
        return o instanceof Batch b && b.batchSize == batchSize && b.blockSize == blockSize
                && Arrays.equals(b.inputs, inputs) && Arrays.equals(b.targets, targets);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * batchSize + blockSize) + Arrays.hashCode(inputs) * 17 + Arrays.hashCode(targets);
    }

    @Override
    public String toString() {
        return "Batch[" + batchSize + "x" + blockSize + ", first=" + (inputs.length > 0 ? inputs[0] : -1) + "]";
    }
}
