package forge.train;

import forge.errors.BadInputException;

/** Optimizer steps, and the rows per micro-batch and micro-batches per step (gradient accumulation). */
public record TrainSpec(long maxSteps, int batchSize, int gradAccumSteps) {
    public TrainSpec {
        if (maxSteps <= 0) throw BadInputException.field("train.max_steps", "must be > 0, got " + maxSteps);
        if (batchSize <= 0) throw BadInputException.field("train.batch_size", "must be > 0, got " + batchSize);
        if (gradAccumSteps <= 0) throw BadInputException.field("train.grad_accum_steps", "must be > 0, got " + gradAccumSteps);
    }
}
