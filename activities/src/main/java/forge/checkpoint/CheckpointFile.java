package forge.checkpoint;

import forge.storage.Segments;

/**
 * One file of a checkpoint, already serialized. {@code name} is relative to the checkpoint directory and may have
 * sub-directories ("tokenizer/vocab.json"). The array is not copied: the caller hands it over.
 */
public record CheckpointFile(String name, byte[] content) {
    public CheckpointFile {
        Segments.checkPath(name, "checkpoint file name");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("checkpoint file name is empty");
        }
        if (name.equals(Manifest.FILE_NAME)) {
            throw new IllegalArgumentException(Manifest.FILE_NAME + " is written by the checkpoint store itself");
        }
        if (content == null) {
            throw new IllegalArgumentException("checkpoint file " + name + " has no content");
        }
    }
}
