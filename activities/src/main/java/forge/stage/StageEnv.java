package forge.stage;

import forge.checkpoint.CheckpointStore;
import forge.checkpoint.StageCache;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.train.CheckpointSpec;
import forge.train.TrainingMetrics;
import forge.workflow.StageInput;

/**
 * Everything a stage is handed besides its config: the earlier stages' outputs, the storage it reads from, and
 * where it keeps its checkpoints, metrics and cache entries. Plain data: no Temporal in here.
 *
 * @param cache null turns reuse of earlier runs' outputs off
 */
public record StageEnv(StageInput input, S3Storage storage, S3Settings settings, TrainingMetrics metrics,
                       StageCache cache) {

    /** {@code s3://bucket/prefix/runId/stage/}, keeping as many step checkpoints as the stage's config asks. */
    public CheckpointStore store(CheckpointSpec checkpoint) {
        return new CheckpointStore(storage, settings.stageRoot(input.runId(), input.stage()), checkpoint.keepLast());
    }

    /** The output of the stage before this one, or null when this stage comes first. */
    public String parentCheckpoint() {
        return input.parentCheckpoint();
    }

    /** The output of an earlier stage of this run by name, or null if the run had none. */
    public String earlierOutput(String stage) {
        return input.earlierOutputs().get(stage);
    }
}
