package forge.config;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Files a checkout ships (config/demo.yaml, the benchmark specs), found from the working directory or else from
 * {@code $FORGE_HOME}, which {@code ./forge} sets to its checkout, so commands work when called from elsewhere.
 */
public final class ShippedFiles {
    private ShippedFiles() {}

    public static Path resolve(String first, String... more) {
        Path local = Path.of(first, more);
        String home = System.getenv("FORGE_HOME");
        return Files.exists(local) || home == null ? local : Path.of(home).resolve(local);
    }
}
