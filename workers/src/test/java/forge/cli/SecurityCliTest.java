package forge.cli;

import forge.codec.CodecKeys;
import forge.codec.EncryptionCodec;
import forge.workflow.SafeNames;
import io.temporal.api.common.v1.Payload;
import io.temporal.common.converter.DefaultDataConverter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CLI's side of hardening: run ids checked before a run exists, and the codec server as users start it. */
class SecurityCliTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"../escape", "a/b", "a\\b", "two..dots", "new\nline", "sp ace"})
    void aBadRunIdIsRefusedNamingTheFlagBeforeTemporalIsContacted(String runId) throws Exception {
        Path spec = Files.writeString(dir.resolve("ok.yaml"), "stages:\n  pretrain: {}\n");
        Result r = run("start", spec.toString(), "--run-id", runId, "--address", "127.0.0.1:" + closedPort());
        assertEquals(Forge.EXIT_BAD_INPUT, r.code, r.err);
        assertTrue(r.err.startsWith("error: --run-id "), r.err);
        assertEquals(1, r.err.strip().lines().count(), r.err);
    }

    @Test
    void anOverlongRunIdIsRefused() throws Exception {
        Path spec = Files.writeString(dir.resolve("ok.yaml"), "stages:\n  pretrain: {}\n");
        Result r = run("start", spec.toString(), "--run-id", "r".repeat(129), "--address", "127.0.0.1:" + closedPort());
        assertEquals(Forge.EXIT_BAD_INPUT, r.code, r.err);
        assertTrue(r.err.contains("--run-id is longer than 128"), r.err);
    }

    @Test
    void theDefaultRunIdIsValidWhateverTheSpecIsNamed() {
        for (String name : new String[] {"demo", "my spec/v2", "..", "a..b", "", "ünïcode", "x".repeat(300)}) {
            String id = StartCommand.defaultRunId(name);
            assertEquals(id, SafeNames.check(id, "run id"));
        }
        assertTrue(StartCommand.defaultRunId("demo").startsWith("demo-"));
    }

    @Test
    void codecServerRoundTripsPayloadsOverHttpAsStartedFromTheCli() throws Exception {
        byte[] key = new byte[32];
        key[0] = 42;
        Process p = forge(Map.of("FORGE_CODEC_KEY", Base64.getEncoder().encodeToString(key), "FORGE_CODEC_KEY_ID",
                "cli-test", "FORGE_CODEC_SERVER_TOKEN", "t0k"), "codec-server", "--port", "0",
                "--cors-origin", "http://localhost:8233");
        try {
            URI endpoint = null;
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            List<String> seen = new ArrayList<>();
            Pattern listening = Pattern.compile("codec server listening on (http://\\S+)");
            for (String line; endpoint == null && (line = out.readLine()) != null; ) {
                seen.add(line);
                Matcher m = listening.matcher(line);
                if (m.find()) {
                    endpoint = URI.create(m.group(1));
                }
            }
            assertTrue(endpoint != null, "no endpoint printed: " + seen);
            assertFalse(String.join("\n", seen).contains(Base64.getEncoder().encodeToString(key)));

            EncryptionCodec workers = new EncryptionCodec(CodecKeys.of("cli-test", key));
            Payload plain = DefaultDataConverter.newDefaultInstance().toPayload("hello from a worker").orElseThrow();
            String body = com.google.protobuf.util.JsonFormat.printer().print(io.temporal.api.common.v1.Payloads
                    .newBuilder().addAllPayloads(workers.encode(List.of(plain))).build());
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create(endpoint + "/default/decode")).header("Authorization", "Bearer t0k")
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.body().contains(Base64.getEncoder().encodeToString(plain.getData().toByteArray())), r.body());
        } finally {
            p.destroy();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void codecServerRefusesAKeyOfTheWrongLengthNamingTheVariable() throws Exception {
        Process p = forge(Map.of("FORGE_CODEC_KEY", Base64.getEncoder().encodeToString(new byte[16]),
                "FORGE_CODEC_KEY_ID", "k"), "codec-server", "--port", "0");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(Forge.EXIT_BAD_INPUT, p.exitValue(), err);
        assertTrue(err.startsWith("error: FORGE_CODEC_KEY: expected a base64-encoded 32-byte AES-256 key, got 16 bytes"),
                err);
    }

    @Test
    void codecServerWithoutAKeySaysWhatToSet() throws Exception {
        Process p = forge(Map.of(), "codec-server", "--port", "0");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(Forge.EXIT_BAD_INPUT, p.exitValue(), err);
        assertTrue(err.contains("FORGE_CODEC_KEY_FILE") && err.contains("FORGE_CODEC_KEY"), err);
    }

    /** The CLI in its own JVM: the keys come from the environment, as for a user. */
    private static Process forge(Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "forge.cli.Forge"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().keySet().removeIf(k -> k.startsWith("FORGE_"));
        pb.environment().putAll(env);
        return pb.start();
    }

    private record Result(int code, String err) {}

    private static Result run(String... args) {
        PrintStream oldErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            return new Result(Forge.execute(args), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(oldErr);
        }
    }

    private static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
