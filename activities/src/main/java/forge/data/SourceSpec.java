package forge.data;

import forge.errors.BadInputException;

import java.util.Locale;

/**
 * One pretraining source.
 *
 * @param path   a local file, {@code s3://bucket/key}, or a {@code demo:pretrain?seed=7&docs=20000} path
 * @param weight the share of training rows drawn from this source, relative to the others; > 0
 * @param format "auto" (by extension: .jsonl, .ndjson, optionally .gz, are JSONL; anything else text), "text"
 *               (the whole file is one document) or "jsonl" (one JSON object per line)
 * @param field  the JSONL field holding the text
 */
public record SourceSpec(String path, double weight, String format, String field) {

    /** Validates; errors name the field relative to the source ("weight: ..."); use {@link #at} for full names. */
    public SourceSpec {
        if (path == null || path.isBlank()) {
            throw BadInputException.field("path", "must not be blank");
        }
        if (!(weight > 0) || Double.isInfinite(weight)) {
            throw BadInputException.field("weight", "must be a finite number > 0, got " + weight);
        }
        format = format == null || format.isBlank() ? "auto" : format.toLowerCase(Locale.ROOT);
        if (!format.equals("auto") && !format.equals("text") && !format.equals("jsonl")) {
            throw BadInputException.field("format", "must be auto, text or jsonl, got \"" + format + "\"");
        }
        field = field == null || field.isBlank() ? "text" : field;
    }

    public static SourceSpec of(String path) {
        return new SourceSpec(path, 1.0, "auto", "text");
    }

    /**
     * Builds the spec for {@code data.sources[index]}; errors carry the full field name, e.g.
     * "data.sources[2].weight: must be a finite number > 0, got -1.0". Null weight, format or field take defaults.
     */
    public static SourceSpec at(int index, String path, Double weight, String format, String field) {
        try {
            return new SourceSpec(path, weight == null ? 1.0 : weight, format, field);
        } catch (BadInputException e) {
            throw new BadInputException(fieldName(index) + "." + e.getMessage(), e);
        }
    }

    static String fieldName(int index) {
        return "data.sources[" + index + "]";
    }

    /** "text" or "jsonl", after resolving "auto" from the path. */
    public String resolvedFormat() {
        if (!format.equals("auto")) {
            return format;
        }
        String p = path.toLowerCase(Locale.ROOT);
        if (p.endsWith(".gz")) {
            p = p.substring(0, p.length() - 3);
        }
        return p.endsWith(".jsonl") || p.endsWith(".ndjson") ? "jsonl" : "text";
    }
}
