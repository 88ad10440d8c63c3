package forge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.errors.BadInputException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Pipeline specs are YAML or JSON files; Temporal receives them as plain JSON either way. */
final class SpecFiles {
    private SpecFiles() {}

    static JsonNode read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new BadInputException(file + ": no such spec file");
        }
        String name = file.getFileName().toString();
        ObjectMapper mapper = name.endsWith(".json") ? new ObjectMapper() : new ObjectMapper(new YAMLFactory());
        try {
            JsonNode node = mapper.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new BadInputException(file + ": expected a mapping with a \"stages\" key");
            }
            return node;
        } catch (IOException e) {
            throw new BadInputException(file + ": " + e.getMessage().lines().findFirst().orElse("unreadable"), e);
        }
    }
}
