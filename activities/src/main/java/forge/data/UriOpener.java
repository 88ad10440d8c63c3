package forge.data;

import java.io.IOException;
import java.io.InputStream;

/** Opens a remote object ({@code s3://bucket/key}) for reading; local paths never go through here. */
@FunctionalInterface
public interface UriOpener {
    InputStream open(String uri) throws IOException;
}
