package forge.tensor;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.errors.BadInputException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code <prefix>.safetensors.index.json}, the index of a sharded safetensors checkpoint as transformers'
 * {@code save_pretrained} writes it: {@code {"metadata": {"total_size": N}, "weight_map": {tensor: shard file}}},
 * where total_size counts tensor bytes (headers excluded). The one parser of it: Hugging Face directories and Forge
 * checkpoints both read it here.
 *
 * @param totalSize bytes of all tensors; -1 when an index read from elsewhere does not say
 * @param weightMap tensor name to shard file name
 */
public record SafetensorsIndex(long totalSize, Map<String, String> weightMap) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public SafetensorsIndex {
        weightMap = Collections.unmodifiableMap(new LinkedHashMap<>(weightMap));
    }

    /** {@code model} → {@code model.safetensors.index.json}. */
    public static String fileName(String prefix) {
        return prefix + ".safetensors.index.json";
    }

    /** The shard files in the order the weight map first names them. */
    public List<String> shards() {
        return List.copyOf(new LinkedHashSet<>(weightMap.values()));
    }

    /** As transformers writes it: {@code json.dumps(index, indent=2, sort_keys=True) + "\n"}. */
    public byte[] toJson() {
        StringBuilder b = new StringBuilder("{\n  \"metadata\": {\n    \"total_size\": ").append(totalSize)
                .append("\n  },\n  \"weight_map\": {");
        String sep = "\n";
        for (Map.Entry<String, String> e : new TreeMap<>(weightMap).entrySet()) {
            b.append(sep).append("    ").append(Safetensors.quote(e.getKey())).append(": ")
                    .append(Safetensors.quote(e.getValue()));
            sep = ",\n";
        }
        return b.append("\n  }\n}\n").toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * @param where the file as errors name it
     * @throws BadInputException naming {@code where} and the field when it is not a usable index
     */
    public static SafetensorsIndex parse(byte[] json, String where) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            String detail = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw new BadInputException(where + ": not valid JSON (" + detail + ")", e);
        }
        if (root == null || !root.isObject()) {
            throw new BadInputException(where + ": must be a JSON object");
        }
        JsonNode map = root.path("weight_map");
        if (!map.isObject() || map.isEmpty()) {
            throw BadInputException.field(where + " weight_map", "must be an object of tensor -> file");
        }
        Map<String, String> weights = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            String shard = e.getValue().asText();
            if (!e.getValue().isTextual() || shard.isEmpty() || shard.contains("/") || shard.contains("\\")
                    || shard.startsWith(".")) {
                throw BadInputException.field(where + " weight_map", "\"" + shard + "\" is not a file name");
            }
            weights.put(e.getKey(), shard);
        }
        JsonNode total = root.path("metadata").path("total_size");
        return new SafetensorsIndex(total.canConvertToLong() ? total.asLong() : -1, weights);
    }
}
