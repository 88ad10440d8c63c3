package forge.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Strict reading of one object of a stage config: every key read is remembered, {@link #finish()} rejects the
 * rest by name, and the values actually used (defaults included) are collected into {@link #resolved()} so that
 * every checkpoint records exactly what produced it.
 */
public final class ConfigNode {
    private final String path;
    private final JsonNode node;
    private final Set<String> known = new HashSet<>();
    private final ObjectNode resolved = JsonNodeFactory.instance.objectNode();

    public ConfigNode(String path, JsonNode node) {
        if (node != null && !node.isNull() && !node.isObject()) {
            throw BadInputException.field(path, "expected an object, got " + node);
        }
        this.path = path;
        this.node = node == null || node.isNull() ? JsonNodeFactory.instance.objectNode() : node;
    }

    public ConfigNode child(String key) {
        known.add(key);
        ConfigNode child = new ConfigNode(field(key), node.get(key));
        resolved.set(key, child.resolved);
        return child;
    }

    public List<ConfigNode> list(String key) {
        known.add(key);
        JsonNode value = node.get(key);
        if (value == null || !value.isArray()) {
            throw BadInputException.field(field(key), value == null ? "missing; expected a list" : "expected a list, got " + value);
        }
        List<ConfigNode> out = new ArrayList<>();
        var array = resolved.putArray(key);
        for (int i = 0; i < value.size(); i++) {
            ConfigNode item = new ConfigNode(field(key) + "[" + i + "]", value.get(i));
            array.add(item.resolved);
            out.add(item);
        }
        return out;
    }

    /** Keys the workflow consumed; accepted here without being part of this stage's meaning. */
    public void allow(Collection<String> keys) {
        known.addAll(keys);
    }

    /** Whether the key holds an object (a section), e.g. {@code init_from: {hf: ...}} rather than a string. */
    public boolean isObject(String key) {
        return node.path(key).isObject();
    }

    public boolean has(String key) {
        return node.hasNonNull(key);
    }

    public int integer(String key, int dflt) {
        long v = longValue(key, dflt);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw BadInputException.field(field(key), "out of range: " + v);
        }
        return (int) v;
    }

    public int integer(String key) {
        requirePresent(key);
        return integer(key, 0);
    }

    public long longValue(String key, long dflt) {
        known.add(key);
        JsonNode v = node.get(key);
        long out;
        if (v == null || v.isNull()) {
            out = dflt;
        } else if (v.isIntegralNumber() || (v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
            out = v.asLong();
        } else if (v.isTextual() && v.asText().matches("-?\\d+")) {
            out = Long.parseLong(v.asText());
        } else {
            throw BadInputException.field(field(key), "expected an integer, got " + v);
        }
        resolved.put(key, out);
        return out;
    }

    public double number(String key, double dflt) {
        known.add(key);
        JsonNode v = node.get(key);
        double out;
        if (v == null || v.isNull()) {
            out = dflt;
        } else if (v.isNumber()) {
            out = v.asDouble();
        } else if (v.isTextual()) {
            try {
                out = Double.parseDouble(v.asText());
            } catch (NumberFormatException e) {
                throw BadInputException.field(field(key), "expected a number, got " + v);
            }
        } else {
            throw BadInputException.field(field(key), "expected a number, got " + v);
        }
        if (!Double.isFinite(out)) {
            throw BadInputException.field(field(key), "must be finite, got " + v);
        }
        resolved.put(key, out);
        return out;
    }

    public boolean bool(String key, boolean dflt) {
        known.add(key);
        JsonNode v = node.get(key);
        boolean out;
        if (v == null || v.isNull()) {
            out = dflt;
        } else if (v.isBoolean()) {
            out = v.asBoolean();
        } else {
            throw BadInputException.field(field(key), "expected true or false, got " + v);
        }
        resolved.put(key, out);
        return out;
    }

    public String text(String key, String dflt) {
        known.add(key);
        JsonNode v = node.get(key);
        String out;
        if (v == null || v.isNull()) {
            out = dflt;
        } else if (v.isValueNode()) {
            out = v.asText();
        } else {
            throw BadInputException.field(field(key), "expected a string, got " + v);
        }
        if (out != null) {
            resolved.put(key, out);
        }
        return out;
    }

    /** A list of strings, e.g. {@code targets: [c_attn, c_fc]}; a single string is a list of one. */
    public List<String> texts(String key, List<String> dflt) {
        known.add(key);
        JsonNode v = node.get(key);
        List<String> out = new ArrayList<>();
        if (v == null || v.isNull()) {
            out.addAll(dflt);
        } else if (v.isTextual()) {
            out.add(v.asText());
        } else if (v.isArray()) {
            for (int i = 0; i < v.size(); i++) {
                if (!v.get(i).isTextual()) {
                    throw BadInputException.field(field(key) + "[" + i + "]", "expected a string, got " + v.get(i));
                }
                out.add(v.get(i).asText());
            }
        } else {
            throw BadInputException.field(field(key), "expected a list of strings, got " + v);
        }
        var array = resolved.putArray(key);
        out.forEach(array::add);
        return out;
    }

    public String text(String key) {
        requirePresent(key);
        return text(key, null);
    }

    /** Rejects keys nobody asked for: a typo must not silently fall back to a default. */
    public void finish() {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!known.contains(key)) {
                throw BadInputException.field(field(key), "unknown key (known keys: " + String.join(", ", new java.util.TreeSet<>(known)) + ")");
            }
        }
    }

    public ObjectNode resolved() {
        return resolved;
    }

    public String path() {
        return path;
    }

    public String field(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    private void requirePresent(String key) {
        if (!node.hasNonNull(key)) {
            known.add(key);
            throw BadInputException.field(field(key), "missing");
        }
    }
}
