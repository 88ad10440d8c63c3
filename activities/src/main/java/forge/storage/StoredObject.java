package forge.storage;

/**
 * One object from a listing: its key relative to the listed directory, its size in bytes, and its ETag as S3 reports
 * it (quoted; null where the listing has none), which a conditional overwrite ({@link S3Storage#putIfMatch}) names.
 */
public record StoredObject(String name, long size, String etag) {
    public StoredObject(String name, long size) {
        this(name, size, null);
    }
}
