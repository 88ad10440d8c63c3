package forge.model;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;

/** Typed reads of a Hugging Face config.json, each failure naming the file and the field. */
public final class HfConfigFields {
    private final JsonNode root;
    private final String where;

    public HfConfigFields(JsonNode root, String where) {
        if (root == null || !root.isObject()) {
            throw new BadInputException(where + ": must be a JSON object");
        }
        this.root = root;
        this.where = where;
    }

    /** The file, as errors name it. */
    public String where() {
        return where;
    }

    public JsonNode node(String key) {
        JsonNode n = root.get(key);
        return n == null || n.isNull() ? null : n;
    }

    public int requiredInt(String key) {
        JsonNode n = node(key);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt()) {
            throw fail(key, n == null ? "is missing" : "must be an integer, got " + n);
        }
        return n.intValue();
    }

    public int intOr(String key, int otherwise) {
        return node(key) == null ? otherwise : requiredInt(key);
    }

    public double doubleOr(String key, double otherwise) {
        JsonNode n = node(key);
        if (n == null) {
            return otherwise;
        }
        if (!n.isNumber()) {
            throw fail(key, "must be a number, got " + n);
        }
        return n.doubleValue();
    }

    public boolean boolOr(String key, boolean otherwise) {
        JsonNode n = node(key);
        if (n == null) {
            return otherwise;
        }
        if (!n.isBoolean()) {
            throw fail(key, "must be true or false, got " + n);
        }
        return n.booleanValue();
    }

    public String string(String key, String otherwise) {
        JsonNode n = node(key);
        if (n == null) {
            return otherwise;
        }
        if (!n.isTextual()) {
            throw fail(key, "must be a string, got " + n);
        }
        return n.textValue();
    }

    /** Refuses a feature this code does not implement unless the field is absent, null or the given value. */
    public void onlyIf(String key, Object allowed, String why) {
        JsonNode n = node(key);
        if (n == null) {
            return;
        }
        boolean ok = allowed instanceof Boolean b ? n.isBoolean() && n.booleanValue() == b
                : allowed instanceof String s ? n.isTextual() && n.textValue().equals(s)
                : allowed instanceof Number x && n.isNumber() && n.doubleValue() == x.doubleValue();
        if (!ok) {
            throw fail(key, n + " is not supported: " + why);
        }
    }

    public BadInputException fail(String key, String problem) {
        return BadInputException.field(where + " " + key, problem);
    }
}
