package forge.storage;

import forge.errors.BadInputException;

import java.util.regex.Pattern;

/**
 * An object or "directory" on S3. The key has no leading or trailing slash; an empty key is the bucket root.
 * Built only through validation, so code holding an S3Uri never has to re-check it.
 */
public record S3Uri(String bucket, String key) {
    // S3's rules for new buckets; dots allowed for the odd legacy bucket name.
    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
    private static final String SCHEME = "s3://";

    public S3Uri {
        if (bucket == null || !BUCKET.matcher(bucket).matches() || bucket.contains("..")) {
            throw new IllegalArgumentException("invalid S3 bucket name '" + bucket
                    + "': 3-63 lowercase letters, digits, '.' or '-'");
        }
        Segments.checkPath(key, "S3 key");
    }

    /**
     * Parses {@code s3://bucket/a/b}; one trailing slash is accepted ({@code s3://bucket/data/}) since people type
     * prefixes that way. Anything else is the user's to fix, hence BadInputException.
     */
    public static S3Uri parse(String uri) {
        if (uri == null || !uri.startsWith(SCHEME)) {
            throw new BadInputException("not an S3 URI (expected s3://bucket/key): '"
                    + (uri == null ? "null" : Segments.abbreviate(uri)) + "'");
        }
        String rest = uri.substring(SCHEME.length());
        int slash = rest.indexOf('/');
        String bucket = slash < 0 ? rest : rest.substring(0, slash);
        String key = slash < 0 ? "" : rest.substring(slash + 1);
        if (key.endsWith("/")) {
            key = key.substring(0, key.length() - 1);
        }
        try {
            return new S3Uri(bucket, key);
        } catch (IllegalArgumentException e) {
            throw new BadInputException("invalid S3 URI '" + Segments.abbreviate(uri) + "': " + e.getMessage(), e);
        }
    }

    /** A child below this one; {@code child} may itself contain slashes ("tokenizer/vocab.json"). */
    public S3Uri resolve(String child) {
        Segments.checkPath(child, "S3 path '" + child + "'");
        if (child.isEmpty()) {
            return this;
        }
        return new S3Uri(bucket, key.isEmpty() ? child : key + "/" + child);
    }

    /** The last path segment: the object's or directory's own name ("" for the bucket root). */
    public String name() {
        return key.substring(key.lastIndexOf('/') + 1);
    }

    /** The key as a listing prefix: everything strictly below this "directory". */
    String dirPrefix() {
        return key.isEmpty() ? "" : key + "/";
    }

    @Override
    public String toString() {
        return key.isEmpty() ? SCHEME + bucket : SCHEME + bucket + "/" + key;
    }
}
