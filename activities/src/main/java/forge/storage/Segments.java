package forge.storage;

import java.nio.charset.StandardCharsets;

/**
 * Key-segment rules shared by URIs, settings and checkpoint names. They exist because an S3 key is an opaque string:
 * "..", empty segments or control characters would not escape anything on S3, but they do on the filesystem-backed
 * S3Proxy used in dev, and they make two spellings of one checkpoint look like two checkpoints.
 */
public final class Segments {
    /** S3's own limit on a key, in UTF-8 bytes. */
    public static final int MAX_KEY_BYTES = 1024;
    public static final int MAX_SEGMENT_CHARS = 255;

    private Segments() {
    }

    /** A "/"-separated relative path: every segment non-empty, not "." or "..", no control characters. */
    public static String checkPath(String path, String what) {
        if (path == null) {
            throw new IllegalArgumentException(what + " is missing");
        }
        if (path.isEmpty()) {
            return path;
        }
        for (String segment : path.split("/", -1)) {
            checkSegment(segment, what, path);
        }
        if (path.getBytes(StandardCharsets.UTF_8).length > MAX_KEY_BYTES) {
            throw new IllegalArgumentException(what + " is longer than " + MAX_KEY_BYTES + " bytes: " + abbreviate(path));
        }
        return path;
    }

    private static void checkSegment(String segment, String what, String path) {
        if (segment.isEmpty()) {
            throw new IllegalArgumentException(what + " has an empty path segment: '" + abbreviate(path) + "'");
        }
        if (segment.equals(".") || segment.equals("..")) {
            throw new IllegalArgumentException(what + " must not contain '" + segment + "': '" + abbreviate(path) + "'");
        }
        if (segment.length() > MAX_SEGMENT_CHARS) {
            throw new IllegalArgumentException(what + " has a path segment longer than " + MAX_SEGMENT_CHARS
                    + " characters: '" + abbreviate(path) + "'");
        }
        for (int i = 0; i < segment.length(); i++) {
            char c = segment.charAt(i);
            if (c < 0x20 || c == 0x7f || c == '\\') {
                throw new IllegalArgumentException(what + " contains a control character or backslash: '"
                        + abbreviate(path) + "'");
            }
        }
    }

    /** A single name used as one directory level (run id, stage): strict so it is safe everywhere it lands. */
    public static String checkName(String name, String what) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException(what + " is missing");
        }
        if (name.length() > 128) {
            throw new IllegalArgumentException(what + " is longer than 128 characters: '" + abbreviate(name) + "'");
        }
        if (!name.matches("[A-Za-z0-9._-]+") || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException(what + " may only contain letters, digits, '.', '_' and '-', got '"
                    + abbreviate(name) + "'");
        }
        return name;
    }

    static String abbreviate(String s) {
        return s.length() <= 100 ? s : s.substring(0, 100) + "...";
    }
}
