package forge.train;

import forge.errors.BadInputException;
import forge.model.Precision;

/**
 * Optimizer steps, the rows per micro-batch and micro-batches per step (gradient accumulation), the precision the
 * forward computes in (train.precision; fp32 master weights and moments whatever it is) and the dtype final/'s
 * weights are written in (train.export_dtype).
 *
 * @param activationCheckpointing keep only each block's input and recompute blocks in backward
 *                                ({@code Gpt.backwardCheckpointed}); a train key rather than a model key because it
 *                                changes how a stage trains, not the model it writes, and fine-tuning stages have no
 *                                model section
 */
public record TrainSpec(long maxSteps, int batchSize, int gradAccumSteps, Precision precision,
                        Precision exportDtype, boolean activationCheckpointing) {
    /** Stages whose training step has no checkpointed path refuse the key rather than ignore it. */
    public void requireNoActivationCheckpointing(String stage) {
        if (activationCheckpointing) {
            throw BadInputException.field("train.activation_checkpointing", "is not supported by the " + stage
                    + " stage yet (pretrain and sft have it)");
        }
    }

    public TrainSpec {
        if (maxSteps <= 0) throw BadInputException.field("train.max_steps", "must be > 0, got " + maxSteps);
        if (batchSize <= 0) throw BadInputException.field("train.batch_size", "must be > 0, got " + batchSize);
        if (gradAccumSteps <= 0) throw BadInputException.field("train.grad_accum_steps", "must be > 0, got " + gradAccumSteps);
        precision.requireRunnable("train.precision");
    }

    /** fp32 training, fp32 export. */
    public TrainSpec(long maxSteps, int batchSize, int gradAccumSteps) {
        this(maxSteps, batchSize, gradAccumSteps, Precision.FP32, Precision.FP32, false);
    }
}
