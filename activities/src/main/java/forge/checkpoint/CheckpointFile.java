package forge.checkpoint;

import forge.storage.ObjectBody;
import forge.storage.Segments;

import java.io.IOException;
import java.io.OutputStream;

/**
 * One file of a checkpoint. {@code name} is relative to the checkpoint directory and may have sub-directories
 * ("tokenizer/vocab.json"). Small files are held as bytes (the array is not copied: the caller hands it over); large
 * ones are {@link #streamed}: a size known up front and a body that produces the bytes while they are uploaded, so
 * a checkpoint never needs a copy of itself on the heap.
 */
public final class CheckpointFile {
    private final String name;
    private final byte[] content;
    private final long size;
    private final ObjectBody body;

    public CheckpointFile(String name, byte[] content) {
        this(name, content, content == null ? -1 : content.length, content == null ? null : out -> out.write(content));
    }

    private CheckpointFile(String name, byte[] content, long size, ObjectBody body) {
        Segments.checkPath(name, "checkpoint file name");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("checkpoint file name is empty");
        }
        if (name.equals(Manifest.FILE_NAME)) {
            throw new IllegalArgumentException(Manifest.FILE_NAME + " is written by the checkpoint store itself");
        }
        if (body == null || size < 0) {
            throw new IllegalArgumentException("checkpoint file " + name + " has no content");
        }
        this.name = name;
        this.content = content;
        this.size = size;
        this.body = body;
    }

    /**
     * A file of {@code size} bytes that {@code body} writes when the file is uploaded; it may be asked again (a
     * {@code final/} commit that lost a race writes again), so it must produce the same bytes each time.
     */
    public static CheckpointFile streamed(String name, long size, ObjectBody body) {
        return new CheckpointFile(name, null, size, body);
    }

    public String name() {
        return name;
    }

    public long size() {
        return size;
    }

    /** Whether the bytes are held ({@link #content} works) rather than produced when streamed. */
    public boolean inMemory() {
        return content != null;
    }

    /** The bytes of an in-memory file. A streamed one has none to hand out: use {@link #writeTo}. */
    public byte[] content() {
        if (content == null) {
            throw new IllegalStateException("checkpoint file " + name + " is streamed (" + size + " bytes) and has"
                    + " no in-memory content");
        }
        return content;
    }

    public ObjectBody body() {
        return body;
    }

    public void writeTo(OutputStream out) throws IOException {
        body.writeTo(out);
    }

    @Override
    public String toString() {
        return "CheckpointFile[" + name + ", " + size + " bytes" + (inMemory() ? "" : ", streamed") + "]";
    }
}
