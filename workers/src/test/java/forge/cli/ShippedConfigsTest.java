package forge.cli;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertFalse;

/** Every spec in config/ passes the checks a worker would make, so none of them fails a user at run time. */
class ShippedConfigsTest {
    @Test
    void everyShippedSpecIsValid() throws Exception {
        Path dir = Path.of("..", "config");
        List<Path> specs;
        try (Stream<Path> files = Files.list(dir)) {
            specs = files.filter(p -> p.toString().endsWith(".yaml")).toList();
        }
        assertFalse(specs.isEmpty());
        for (Path spec : specs) {
            StartCommand.validate(SpecFiles.read(spec), spec);
        }
    }
}
