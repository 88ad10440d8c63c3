package forge.train;

import forge.errors.BadInputException;

/**
 * A checkpoint is due every {@code intervalSteps} steps or {@code intervalSeconds} of wall time, whichever comes
 * first: the time bound is what limits the work a dead pod can cost.
 *
 * @param shardSizeMb weights and optimizer state are split into safetensors shards of at most this many MB (10^6
 *                    bytes, as Hugging Face counts "5GB"); see {@link #DEFAULT_SHARD_SIZE_MB}
 */
public record CheckpointSpec(int intervalSteps, double intervalSeconds, int keepLast, int shardSizeMb) {
    /**
     * 2000 MB: within the 2 to 10 GB Hugging Face uses (save_pretrained's default is 5GB), and below 2^31 bytes, so
     * any shard but one holding a single larger tensor still fits one Java array for tools that read it whole (and
     * for the readers of checkpoints written before shards). Memory does not depend on it: shards are streamed.
     */
    public static final int DEFAULT_SHARD_SIZE_MB = 2000;

    public CheckpointSpec(int intervalSteps, double intervalSeconds, int keepLast) {
        this(intervalSteps, intervalSeconds, keepLast, DEFAULT_SHARD_SIZE_MB);
    }

    /** The shard size in bytes. */
    public long shardBytes() {
        return shardSizeMb * forge.tensor.ShardedSafetensors.MB;
    }

    public CheckpointSpec {
        if (shardSizeMb < 1) throw BadInputException.field("checkpoint.shard_size_mb", "must be >= 1, got " + shardSizeMb);
        if (intervalSteps <= 0) throw BadInputException.field("checkpoint.interval_steps", "must be > 0, got " + intervalSteps);
        if (intervalSeconds <= 0) throw BadInputException.field("checkpoint.interval_seconds", "must be > 0, got " + intervalSeconds);
        if (keepLast < 2) throw BadInputException.field("checkpoint.keep_last", "must be >= 2 so a torn newest checkpoint never leaves none, got " + keepLast);
    }
}
