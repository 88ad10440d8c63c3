package forge.storage;

/** One object from a listing: its key relative to the listed directory, and its size in bytes. */
public record StoredObject(String name, long size) {
}
