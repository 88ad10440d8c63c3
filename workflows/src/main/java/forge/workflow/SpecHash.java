package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The identity of a spec: SHA-256 of its canonical JSON (keys sorted, numbers written one way), so the same spec read
 * from YAML by {@code ./forge start} and from JSON by {@code temporal workflow start} hashes the same, and a run id
 * can be tied to the spec it was started with. A pure function: the workflow computes it too.
 */
public final class SpecHash {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SpecHash() {}

    public static String of(JsonNode spec) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest(canonicalJson(spec).getBytes(StandardCharsets.UTF_8));
            StringBuilder hex = new StringBuilder();
            for (byte b : digest) {
                hex.append(String.format("%02x", b));
            }
            return hex.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    public static String canonicalJson(JsonNode spec) {
        try {
            return JSON.writeValueAsString(canonical(spec));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("a JSON tree always serializes", e);
        }
    }

    /** Keys sorted; 2, 2.0 and 2e0 the same number; 0.001 and 1.0e-3 the same. */
    static JsonNode canonical(JsonNode node) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        if (node == null || node.isNull() || node.isMissingNode()) {
            return f.nullNode();
        }
        if (node.isObject()) {
            List<String> keys = new ArrayList<>();
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                keys.add(it.next());
            }
            keys.sort(null);
            ObjectNode out = f.objectNode();
            for (String k : keys) {
                out.set(k, canonical(node.get(k)));
            }
            return out;
        }
        if (node.isArray()) {
            ArrayNode out = f.arrayNode();
            node.forEach(e -> out.add(canonical(e)));
            return out;
        }
        if (node.isNumber()) {
            BigDecimal d = node.decimalValue().stripTrailingZeros();
            return d.scale() <= 0 ? f.numberNode(d.toBigIntegerExact()) : f.numberNode(d);
        }
        return node;
    }

    /** The first 12 hex digits, for messages. */
    public static String abbrev(String hash) {
        return hash == null ? "none" : hash.substring(0, Math.min(12, hash.length()));
    }
}
