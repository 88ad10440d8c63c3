package forge.checkpoint;

import forge.tensor.TensorSource;

/**
 * The heap a checkpoint needs beyond the model state itself, whatever the model's size (docs/checkpoints.md):
 * <ul>
 *   <li>writing a shard: the part being filled plus the parts in flight ({@code partSize × (partsInFlight + 1)}),
 *       plus the chunk of an engine tensor being copied to the host ({@link TensorSource#ENGINE_CHUNK_BYTES});</li>
 *   <li>verifying a checkpoint: its small files ({@link CheckpointReader#HELD_MAX_BYTES} each at most) and a 64 KiB
 *       read buffer per shard;</li>
 *   <li>loading: one tensor at a time as its shard streams by (the largest tensor).</li>
 * </ul>
 * The shard size does not enter: a shard is streamed, never held. One file is written at a time.
 */
public final class CheckpointBuffers {
    private CheckpointBuffers() {
    }

    /**
     * Peak extra heap of writing one checkpoint with streamed shards.
     *
     * @param shardSize     bytes of a shard (only bounds the part size where 10,000 parts need larger ones)
     * @param partSize      configured multipart part size
     * @param partsInFlight parts uploaded concurrently
     */
    public static long peakBytes(long shardSize, long partSize, int partsInFlight) {
        long part = Math.max(partSize, (shardSize + 9_999) / 10_000);
        return part * (partsInFlight + 1L) + TensorSource.ENGINE_CHUNK_BYTES;
    }

    /** Peak extra heap of writing with the production client (16 MiB parts, 4 in flight): 88 MiB. */
    public static long peakBytes(long shardSize) {
        return peakBytes(shardSize, forge.storage.S3ClientOptions.defaults().partSize(),
                forge.storage.S3Storage.PARTS_IN_FLIGHT);
    }

    /** Peak extra heap of loading: the largest tensor, which a model load copies into the engine before the next. */
    public static long loadPeakBytes(long largestTensorBytes) {
        return largestTensorBytes + CheckpointReader.HELD_MAX_BYTES;
    }
}
