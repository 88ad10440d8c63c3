package forge.storage;

/** A GET on a key that does not exist (404 / NoSuchKey). */
public class ObjectNotFoundException extends StorageException {
    public ObjectNotFoundException(String message, Throwable cause) {
        super(message, 404, cause);
    }
}
