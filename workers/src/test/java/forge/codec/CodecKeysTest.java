package forge.codec;

import forge.errors.BadInputException;
import forge.worker.WorkerSettings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Misconfigured keys fail at start with a message naming the variable, and never print a key. */
class CodecKeysTest {
    static final String A = Base64.getEncoder().encodeToString(EncryptionCodecTest.KEY_A);
    static final String B = Base64.getEncoder().encodeToString(EncryptionCodecTest.KEY_B);

    @TempDir
    Path dir;

    private static String refused(Map<String, String> env) {
        BadInputException e = assertThrows(BadInputException.class, () -> CodecKeys.fromEnvironment(env));
        assertFalse(e.getMessage().contains(A) || e.getMessage().contains(B), "a key in a message: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void nothingSetMeansOff() {
        assertTrue(CodecKeys.fromEnvironment(Map.of()).isEmpty());
        assertTrue(CodecKeys.fromEnvironment(Map.of("FORGE_CODEC_KEY", " ")).isEmpty());
        assertEquals(null, WorkerSettings.fromEnvironment(Map.of()).codecKeys());
    }

    @Test
    void anInlineKeyWithItsId() {
        CodecKeys k = CodecKeys.fromEnvironment(Map.of("FORGE_CODEC_KEY", A, "FORGE_CODEC_KEY_ID", "prod-1")).orElseThrow();
        assertEquals("prod-1", k.encryptionKeyId());
        assertEquals(Set.of("prod-1"), k.keyIds());
        assertEquals("prod-1", WorkerSettings.fromEnvironment(Map.of("FORGE_CODEC_KEY", A, "FORGE_CODEC_KEY_ID",
                "prod-1")).codecKeys().encryptionKeyId());
    }

    @Test
    void aKeyOfTheWrongLengthNamesTheVariable() {
        String shortKey = Base64.getEncoder().encodeToString(new byte[16]);
        String m = refused(Map.of("FORGE_CODEC_KEY", shortKey, "FORGE_CODEC_KEY_ID", "k"));
        assertTrue(m.startsWith("FORGE_CODEC_KEY: expected a base64-encoded 32-byte AES-256 key, got 16 bytes"), m);
        assertFalse(m.contains(shortKey), m);
        m = refused(Map.of("FORGE_CODEC_KEY", "not base64!!", "FORGE_CODEC_KEY_ID", "k"));
        assertTrue(m.startsWith("FORGE_CODEC_KEY: not valid base64"), m);
        // Through the settings every process reads, as a worker would at start.
        BadInputException e = assertThrows(BadInputException.class, () -> WorkerSettings.fromEnvironment(
                Map.of("FORGE_CODEC_KEY", shortKey, "FORGE_CODEC_KEY_ID", "k")));
        assertTrue(e.getMessage().startsWith("FORGE_CODEC_KEY:"), e.getMessage());
    }

    @Test
    void halfConfiguredEncryptionIsRefusedRatherThanSilentlyOff() {
        assertTrue(refused(Map.of("FORGE_CODEC_KEY_ID", "k")).startsWith("FORGE_CODEC_KEY_ID is set but there is no key"));
        assertTrue(refused(Map.of("FORGE_CODEC_KEY", A)).startsWith("FORGE_CODEC_KEY_ID is required"));
        assertTrue(refused(Map.of("FORGE_CODEC_KEY", A, "FORGE_CODEC_KEY_ID", "bad id!")).startsWith("FORGE_CODEC_KEY_ID:"));
        assertTrue(refused(Map.of("FORGE_CODEC_KEY", A, "FORGE_CODEC_KEY_FILE", "/x", "FORGE_CODEC_KEY_ID", "k"))
                .contains("both set"));
    }

    @Test
    void aKeyFileWithSeveralKeysDecryptsWithAllAndEncryptsWithTheNamedOne() throws Exception {
        Path f = Files.writeString(dir.resolve("keys"), "# rotated 2026-01\n2025 " + A + "\n\n2026 " + B + "\n");
        CodecKeys k = CodecKeys.fromEnvironment(Map.of("FORGE_CODEC_KEY_FILE", f.toString(), "FORGE_CODEC_KEY_ID",
                "2026")).orElseThrow();
        assertEquals("2026", k.encryptionKeyId());
        assertEquals(Set.of("2025", "2026"), k.keyIds());

        assertTrue(refused(Map.of("FORGE_CODEC_KEY_FILE", f.toString())).contains("FORGE_CODEC_KEY_ID is required"));
        assertTrue(refused(Map.of("FORGE_CODEC_KEY_FILE", f.toString(), "FORGE_CODEC_KEY_ID", "2027"))
                .startsWith("FORGE_CODEC_KEY_ID: no key '2027'"));
    }

    @Test
    void aKeyFileWithOneKey() throws Exception {
        Path named = Files.writeString(dir.resolve("one"), "only " + A + "\n");
        assertEquals("only", CodecKeys.fromEnvironment(Map.of("FORGE_CODEC_KEY_FILE", named.toString()))
                .orElseThrow().encryptionKeyId());
        Path bare = Files.writeString(dir.resolve("bare"), A + "\n");
        assertEquals("k8s", CodecKeys.fromEnvironment(Map.of("FORGE_CODEC_KEY_FILE", bare.toString(),
                "FORGE_CODEC_KEY_ID", "k8s")).orElseThrow().encryptionKeyId());
        assertTrue(refused(Map.of("FORGE_CODEC_KEY_FILE", bare.toString())).startsWith("FORGE_CODEC_KEY_ID is required"));
    }

    @Test
    void badKeyFilesNameTheFileAndLine() throws Exception {
        Path wrong = Files.writeString(dir.resolve("wrong"), "a " + A + "\nb " + Base64.getEncoder()
                .encodeToString(new byte[31]) + "\n");
        String m = refused(Map.of("FORGE_CODEC_KEY_FILE", wrong.toString(), "FORGE_CODEC_KEY_ID", "a"));
        assertTrue(m.startsWith("FORGE_CODEC_KEY_FILE " + wrong + " line 2: expected a base64-encoded 32-byte"), m);

        Path dup = Files.writeString(dir.resolve("dup"), "a " + A + "\na " + B + "\n");
        assertTrue(refused(Map.of("FORGE_CODEC_KEY_FILE", dup.toString(), "FORGE_CODEC_KEY_ID", "a"))
                .contains("appears twice"));
        // Columns swapped: the "id" is a key, and must not be echoed.
        Path swapped = Files.writeString(dir.resolve("swapped"), A + " a\n");
        assertTrue(refused(Map.of("FORGE_CODEC_KEY_FILE", swapped.toString(), "FORGE_CODEC_KEY_ID", "a"))
                .contains("line 1"));
        assertTrue(refused(Map.of("FORGE_CODEC_KEY_FILE", dir.resolve("missing").toString()))
                .startsWith("FORGE_CODEC_KEY_FILE: cannot read"));
        Path empty = Files.writeString(dir.resolve("empty"), "# nothing\n");
        assertTrue(refused(Map.of("FORGE_CODEC_KEY_FILE", empty.toString())).contains("holds no key"));
    }

    @Test
    void settingsPrintNeitherTheApiKeyNorACodecKey() {
        WorkerSettings s = WorkerSettings.fromEnvironment(Map.of("FORGE_TEMPORAL_API_KEY", "tmprl-secret-api-key",
                "FORGE_CODEC_KEY", A, "FORGE_CODEC_KEY_ID", "prod-1"));
        String shown = s.toString();
        assertFalse(shown.contains("tmprl-secret-api-key"), shown);
        assertFalse(shown.contains(A), shown);
        assertTrue(shown.contains("apiKey=(set)") && shown.contains("prod-1"), shown);
    }
}
