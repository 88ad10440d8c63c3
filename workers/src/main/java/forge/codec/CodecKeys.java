package forge.codec;

import forge.errors.BadInputException;

import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The AES-256 keys a process encrypts and decrypts Temporal payloads with: one key to encrypt new payloads, and any
 * number of older ones kept so that payloads written before a rotation still decrypt.
 *
 * <p>Configured by environment variables (values are never printed; {@link #toString()} shows only key ids):
 * <ul>
 *   <li>{@code FORGE_CODEC_KEY}: one base64-encoded 32-byte key, named by {@code FORGE_CODEC_KEY_ID}; or</li>
 *   <li>{@code FORGE_CODEC_KEY_FILE}: a file (a mounted Secret) holding either one bare base64 key, named by
 *       {@code FORGE_CODEC_KEY_ID}, or one {@code <key-id> <base64 key>} per line; {@code FORGE_CODEC_KEY_ID} then
 *       picks the key that encrypts (optional when the file holds one key). Blank lines and {@code #} comments are
 *       skipped.</li>
 * </ul>
 * Neither set: encryption is off.
 */
public final class CodecKeys {
    public static final String ENV_KEY = "FORGE_CODEC_KEY";
    public static final String ENV_KEY_FILE = "FORGE_CODEC_KEY_FILE";
    public static final String ENV_KEY_ID = "FORGE_CODEC_KEY_ID";
    public static final int KEY_BYTES = 32;

    private final Map<String, SecretKey> keys;
    private final String encryptionKeyId;

    private CodecKeys(Map<String, SecretKey> keys, String encryptionKeyId) {
        this.keys = Collections.unmodifiableMap(new LinkedHashMap<>(keys));
        this.encryptionKeyId = encryptionKeyId;
    }

    /** One key that both encrypts and decrypts. */
    public static CodecKeys of(String keyId, byte[] key) {
        return new CodecKeys(Map.of(checkId(keyId, "key id"), aes(key, "key " + keyId)), keyId);
    }

    /** Encrypts with {@code encryptionKeyId}; decrypts with any of {@code keys}. */
    public static CodecKeys of(String encryptionKeyId, Map<String, byte[]> keys) {
        Map<String, SecretKey> parsed = new LinkedHashMap<>();
        keys.forEach((id, key) -> parsed.put(checkId(id, "key id"), aes(key, "key " + id)));
        if (!parsed.containsKey(encryptionKeyId)) {
            throw new IllegalArgumentException("no key with id '" + encryptionKeyId + "' among " + parsed.keySet());
        }
        return new CodecKeys(parsed, encryptionKeyId);
    }

    /**
     * @return the configured keys, or empty when encryption is off
     * @throws BadInputException naming the variable (never its value) when the configuration is wrong
     */
    public static Optional<CodecKeys> fromEnvironment(Map<String, String> env) {
        String inline = blankToNull(env.get(ENV_KEY));
        String file = blankToNull(env.get(ENV_KEY_FILE));
        String id = blankToNull(env.get(ENV_KEY_ID));
        if (inline != null && file != null) {
            throw new BadInputException(ENV_KEY + " and " + ENV_KEY_FILE + " are both set; set one");
        }
        if (inline == null && file == null) {
            if (id != null) {
                // Someone meant to turn encryption on; running with it silently off would be the worst outcome.
                throw new BadInputException(ENV_KEY_ID + " is set but there is no key: set " + ENV_KEY_FILE
                        + " or " + ENV_KEY);
            }
            return Optional.empty();
        }
        if (inline != null) {
            if (id == null) {
                throw new BadInputException(ENV_KEY_ID + " is required with " + ENV_KEY
                        + ": every payload records the id of its key, so that a later key can be rotated in");
            }
            checkIdOrBadInput(id, ENV_KEY_ID);
            return Optional.of(new CodecKeys(Map.of(id, parseKey(inline, ENV_KEY)), id));
        }
        return Optional.of(fromFile(Path.of(file), id));
    }

    private static CodecKeys fromFile(Path file, String id) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new BadInputException(ENV_KEY_FILE + ": cannot read " + file + " (" + e.getClass().getSimpleName()
                    + ")");
        }
        Map<String, SecretKey> keys = new LinkedHashMap<>();
        String bare = null;
        int bareLine = 0;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String where = ENV_KEY_FILE + " " + file + " line " + (i + 1);
            String[] parts = line.split("\\s+");
            if (parts.length == 1) {
                if (bare != null || !keys.isEmpty()) {
                    throw new BadInputException(where + ": with several keys, write each as '<key-id> <base64 key>'");
                }
                bare = parts[0];
                bareLine = i + 1;
            } else if (parts.length == 2) {
                if (bare != null) {
                    throw new BadInputException(where + ": with several keys, write each as '<key-id> <base64 key>'");
                }
                String keyId = checkIdOrBadInput(parts[0], where);
                if (keys.put(keyId, parseKey(parts[1], where)) != null) {
                    throw new BadInputException(where + ": key id '" + keyId + "' appears twice");
                }
            } else {
                throw new BadInputException(where + ": expected '<key-id> <base64 key>' or one bare base64 key");
            }
        }
        if (bare != null) {
            if (id == null) {
                throw new BadInputException(ENV_KEY_ID + " is required when " + ENV_KEY_FILE
                        + " holds a bare key: every payload records the id of its key");
            }
            checkIdOrBadInput(id, ENV_KEY_ID);
            return new CodecKeys(Map.of(id, parseKey(bare, ENV_KEY_FILE + " " + file + " line " + bareLine)), id);
        }
        if (keys.isEmpty()) {
            throw new BadInputException(ENV_KEY_FILE + ": " + file + " holds no key");
        }
        if (id == null) {
            if (keys.size() > 1) {
                throw new BadInputException(ENV_KEY_ID + " is required when " + ENV_KEY_FILE + " holds several keys"
                        + " (it names the one that encrypts; the others only decrypt): one of " + keys.keySet());
            }
            id = keys.keySet().iterator().next();
        }
        if (!keys.containsKey(id)) {
            throw new BadInputException(ENV_KEY_ID + ": no key '" + id + "' in " + ENV_KEY_FILE + " (it has "
                    + keys.keySet() + ")");
        }
        return new CodecKeys(keys, id);
    }

    public String encryptionKeyId() {
        return encryptionKeyId;
    }

    SecretKey encryptionKey() {
        return keys.get(encryptionKeyId);
    }

    Optional<SecretKey> key(String keyId) {
        return Optional.ofNullable(keys.get(keyId));
    }

    public Set<String> keyIds() {
        return keys.keySet();
    }

    /** Key ids only: settings get logged, and a key must never be. */
    @Override
    public String toString() {
        return "CodecKeys[encrypts with '" + encryptionKeyId + "', decrypts " + keys.keySet() + "]";
    }

    private static SecretKey parseKey(String base64, String where) {
        byte[] key;
        try {
            key = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            throw new BadInputException(where + ": not valid base64 (expected a base64-encoded " + KEY_BYTES
                    + "-byte AES-256 key, e.g. from `openssl rand -base64 32`)");
        }
        if (key.length != KEY_BYTES) {
            throw new BadInputException(where + ": expected a base64-encoded " + KEY_BYTES + "-byte AES-256 key, got "
                    + key.length + " bytes (e.g. `openssl rand -base64 32`)");
        }
        return new SecretKeySpec(key, "AES");
    }

    private static SecretKey aes(byte[] key, String what) {
        if (key == null || key.length != KEY_BYTES) {
            throw new IllegalArgumentException(what + ": expected " + KEY_BYTES + " bytes, got "
                    + (key == null ? "none" : key.length));
        }
        return new SecretKeySpec(key, "AES");
    }

    private static String checkIdOrBadInput(String id, String where) {
        try {
            return checkId(id, where);
        } catch (IllegalArgumentException e) {
            throw new BadInputException(e.getMessage());
        }
    }

    /** Ids travel in every payload's metadata and in error messages: short and printable. */
    static String checkId(String id, String where) {
        if (id == null || !id.matches("[A-Za-z0-9._-]{1,64}")) {
            throw new IllegalArgumentException(where + ": a key id is 1 to 64 letters, digits, '.', '_' or '-'");
        }
        return id;
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.strip();
    }
}
