package forge.storage;

import java.io.IOException;
import java.io.OutputStream;

/** An object's bytes produced on demand, so an upload never needs them all at once; may be called again on a retry. */
@FunctionalInterface
public interface ObjectBody {
    void writeTo(OutputStream out) throws IOException;
}
