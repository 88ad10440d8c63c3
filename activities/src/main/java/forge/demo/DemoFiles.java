package forge.demo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** Writes the demo world's data in the common JSONL formats, for users who want files to look at or reuse. */
final class DemoFiles {
    private static final ObjectMapper JSON = new ObjectMapper();

    private DemoFiles() {
    }

    static void write(DemoWorld w, Path dir, DemoSizes n) throws IOException {
        Files.createDirectories(dir);
        lines(dir.resolve("pretrain.jsonl"), w.pretrainDocuments(n.pretrainDocs()), d -> Map.of("text", d));
        for (Split split : Split.values()) {
            String suffix = split == Split.TRAIN ? "" : "_heldout";
            lines(dir.resolve("sft" + suffix + ".jsonl"), w.sftExamples(n.sftExamples(), split),
                    e -> ordered("prompt", e.prompt(), "response", e.response()));
            lines(dir.resolve("prefs" + suffix + ".jsonl"), w.comparisons(n.comparisons(), split),
                    c -> ordered("prompt", c.prompt(), "chosen", c.chosen(), "rejected", c.rejected()));
            lines(dir.resolve("ranked" + suffix + ".jsonl"), w.rankedLists(n.rankedLists(), n.rankSize(), split),
                    r -> ordered("prompt", r.prompt(), "responses", r.responses()));
            lines(dir.resolve("prompts" + suffix + ".jsonl"), w.ppoPrompts(n.prompts(), split),
                    p -> Map.of("prompt", p));
        }
    }

    private static Map<String, Object> ordered(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static <T> void lines(Path file, List<T> items, Function<T, Map<String, ?>> row) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (BufferedWriter out = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (T item : items) {
                out.write(json(row.apply(item)));
                out.write('\n');
            }
        }
        // Readers never see half a file.
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
