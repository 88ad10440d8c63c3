package forge.tensor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The safetensors format, checked on a file's bytes independently of {@link Safetensors}' reader. */
public final class SafetensorsFormat {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> DTYPES = Set.of("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8",
            "BOOL");

    private SafetensorsFormat() {
    }

    /**
     * safetensors' rules, checked on the bytes without this code's reader: an 8-byte little-endian header length,
     * the header a JSON object padded with spaces to a multiple of 8, known dtype names, shapes whose sizes match
     * their contiguous non-overlapping data_offsets from 0 to the end of the file, and __metadata__ string to string.
     */
    public static void check(byte[] file) throws IOException {
        checkHeader(file, file.length);
    }

    public static void checkHeader(byte[] start, long fileSize) throws IOException {
        long n = ByteBuffer.wrap(start, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8, "header length " + n + " is a multiple of 8");
        String header = new String(start, 8, (int) n, StandardCharsets.UTF_8);
        String json = header.stripTrailing();
        for (int i = json.length(); i < header.length(); i++) {
            assertEquals(' ', header.charAt(i), "padding is spaces");
        }
        JsonNode root = JSON.readTree(json);
        assertTrue(root.isObject());
        List<long[]> ranges = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                e.getValue().properties().forEach(m -> assertTrue(m.getValue().isTextual(), "metadata is strings"));
                continue;
            }
            JsonNode t = e.getValue();
            assertEquals(Set.of("dtype", "shape", "data_offsets"), fieldNames(t));
            String dtype = t.get("dtype").asText();
            assertTrue(DTYPES.contains(dtype), "dtype " + dtype);
            long numel = 1;
            for (JsonNode d : t.get("shape")) {
                numel *= d.asLong();
            }
            long begin = t.get("data_offsets").get(0).asLong();
            long end = t.get("data_offsets").get(1).asLong();
            assertEquals(numel * HostTensor.elementBytes(dtype), end - begin, e.getKey() + " size");
            ranges.add(new long[] {begin, end});
        }
        ranges.sort((a, b) -> Long.compare(a[0], b[0]));
        long at = 0;
        for (long[] r : ranges) {
            assertEquals(at, r[0], "offsets are contiguous from 0");
            at = r[1];
        }
        assertEquals(fileSize, 8 + n + at, "the data ends where the file does");
    }

    private static Set<String> fieldNames(JsonNode n) {
        Set<String> out = new TreeSet<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
