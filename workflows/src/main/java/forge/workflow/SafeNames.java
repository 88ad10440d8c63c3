package forge.workflow;

/**
 * The rule for names that become S3 key segments and local paths: the run id (the workflow id) and stage names.
 * The CLI, the workflow and the storage layer all apply this one rule, so a name accepted at the door is never
 * refused deeper in, and a name that could climb out of its directory ({@code ..}, {@code /}, {@code \}) or forge a
 * log line (control characters) never reaches S3 or the filesystem-backed S3Proxy of the dev stack.
 */
public final class SafeNames {
    public static final int MAX_LENGTH = 128;

    private SafeNames() {}

    /**
     * @param field how the user knows this value ({@code --run-id}, {@code run id}), named in the message
     * @return {@code value}, unchanged
     * @throws IllegalArgumentException naming {@code field} when the value breaks the rule
     */
    public static String check(String value, String field) {
        if (value == null || value.isEmpty()) {
            throw new IllegalArgumentException(field + " is missing");
        }
        if (value.length() > MAX_LENGTH) {
            throw new IllegalArgumentException(field + " is longer than " + MAX_LENGTH + " characters: '"
                    + shown(value) + "'");
        }
        if (value.contains("..")) {
            throw new IllegalArgumentException(field + " must not contain '..': '" + shown(value) + "'");
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            boolean ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                    || c == '.' || c == '_' || c == '-';
            if (!ok) {
                throw new IllegalArgumentException(field + " may only contain letters, digits, '.', '_' and '-' "
                        + "(no slashes, backslashes, spaces or control characters), got '" + shown(value) + "'");
            }
        }
        if (value.equals(".")) {
            throw new IllegalArgumentException(field + " must not be '.'");
        }
        return value;
    }

    /** The value as it may safely appear in a message and a log line: control characters escaped, length capped. */
    static String shown(String value) {
        int shown = Math.min(value.length(), 100);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < shown; i++) {
            char c = value.charAt(i);
            if (Character.isISOControl(c)) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return shown < value.length() ? b + "..." : b.toString();
    }
}
