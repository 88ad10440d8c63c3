package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;

/** Reads the numbers the workflow takes from a spec, with messages that name the full key. */
final class SpecNumbers {
    private SpecNumbers() {}

    static double positive(JsonNode parent, String key, double defaultValue, String field) {
        JsonNode v = parent.get(key);
        if (v == null || v.isNull()) {
            return defaultValue;
        }
        if (!v.isNumber() || !(v.asDouble() > 0) || Double.isInfinite(v.asDouble())) {
            throw new IllegalArgumentException(name(field, key) + ": must be a number > 0, got " + v);
        }
        return v.asDouble();
    }

    static long positiveInteger(JsonNode parent, String key, long defaultValue, String field) {
        JsonNode v = parent.get(key);
        if (v == null || v.isNull()) {
            return defaultValue;
        }
        if (!v.canConvertToExactIntegral() || !v.canConvertToLong() || v.asLong() <= 0) {
            throw new IllegalArgumentException(name(field, key) + ": must be a positive integer, got " + v);
        }
        return v.asLong();
    }

    /** @param field the enclosing key ("stages.sft"), or "" at the top level */
    private static String name(String field, String key) {
        return field.isEmpty() ? key : field + "." + key;
    }
}
