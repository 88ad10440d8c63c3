package forge.codec;

import com.google.protobuf.util.JsonFormat;
import io.temporal.api.common.v1.Payload;
import io.temporal.api.common.v1.Payloads;
import io.temporal.common.converter.DefaultDataConverter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The remote codec protocol as the Web UI and the temporal CLI speak it, over real HTTP. */
class CodecServerTest {
    static final String UI = "http://localhost:8080";
    static final String TOKEN = "codec-test-token";
    static final EncryptionCodec CODEC = new EncryptionCodec(CodecKeys.of("k1", EncryptionCodecTest.KEY_A));
    static CodecServer server;
    static final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void up() throws Exception {
        server = CodecServer.start("127.0.0.1", 0, CODEC, Set.of(UI), TOKEN);
    }

    @AfterAll
    static void down() {
        server.close();
    }

    private static HttpResponse<String> post(String path, String body, String auth) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(server.endpoint().resolve(path))
                .header("Content-Type", "application/json").header("X-Namespace", "default").header("Origin", UI)
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (auth != null) {
            b.header("Authorization", auth);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String json(List<Payload> payloads) throws Exception {
        return JsonFormat.printer().print(Payloads.newBuilder().addAllPayloads(payloads).build());
    }

    private static List<Payload> parse(String json) throws Exception {
        Payloads.Builder b = Payloads.newBuilder();
        JsonFormat.parser().merge(json, b);
        return b.getPayloadsList();
    }

    private static Payload plain(Object value) {
        return DefaultDataConverter.newDefaultInstance().toPayload(value).orElseThrow();
    }

    @Test
    void decodeReturnsWhatTheWorkersEncrypted() throws Exception {
        List<Payload> original = List.of(plain(Map.of("stage", "pretrain")), plain("second"));
        List<Payload> sealed = CODEC.encode(original);
        HttpResponse<String> r = post("/decode", json(sealed), "Bearer " + TOKEN);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        assertEquals(UI, r.headers().firstValue("Access-Control-Allow-Origin").orElse(null));
        assertEquals(original, parse(r.body()));
        assertTrue(r.body().contains("\"payloads\""), r.body());
    }

    @Test
    void encodeThenDecodeRoundTripsUnderANamespacePath() throws Exception {
        List<Payload> original = List.of(plain(Map.of("name", "tiny")));
        HttpResponse<String> enc = post("/default/encode", json(original), "Bearer " + TOKEN);
        assertEquals(200, enc.statusCode(), enc.body());
        List<Payload> sealed = parse(enc.body());
        assertTrue(EncryptionCodec.isEncrypted(sealed.get(0)));
        assertFalse(enc.body().contains(original.get(0).getData().toStringUtf8()));
        assertEquals(original, CODEC.decode(sealed), "the workers read what the UI encoded");

        HttpResponse<String> dec = post("/default/decode", enc.body(), "Bearer " + TOKEN);
        assertEquals(original, parse(dec.body()));
    }

    @Test
    void theUiSendsBase64MetadataAndPassThroughKeepsPlainPayloads() throws Exception {
        // Exactly what a browser sends for a json/plain payload: every bytes field base64.
        String body = "{\"payloads\":[{\"metadata\":{\"encoding\":\"anNvbi9wbGFpbg==\"},\"data\":\"eyJhIjoxfQ==\"}]}";
        HttpResponse<String> r = post("/decode", body, "Bearer " + TOKEN);
        assertEquals(200, r.statusCode(), r.body());
        Payload p = parse(r.body()).get(0);
        assertEquals("json/plain", p.getMetadataOrThrow("encoding").toStringUtf8());
        assertEquals("{\"a\":1}", p.getData().toStringUtf8());
    }

    @Test
    void theUisPreflightIsAnsweredForItsOriginOnly() throws Exception {
        HttpResponse<String> ok = http.send(HttpRequest.newBuilder(server.endpoint().resolve("/decode"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", UI)
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "authorization,content-type,x-namespace").build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(204, ok.statusCode());
        assertEquals(UI, ok.headers().firstValue("Access-Control-Allow-Origin").orElse(null));
        assertEquals("true", ok.headers().firstValue("Access-Control-Allow-Credentials").orElse(null));
        String allowed = ok.headers().firstValue("Access-Control-Allow-Headers").orElse("").toLowerCase();
        assertTrue(allowed.contains("authorization") && allowed.contains("content-type")
                && allowed.contains("x-namespace"), allowed);
        assertTrue(ok.headers().firstValue("Access-Control-Allow-Methods").orElse("").contains("POST"));

        HttpResponse<String> other = http.send(HttpRequest.newBuilder(server.endpoint().resolve("/decode"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", "https://evil.example")
                .header("Access-Control-Request-Method", "POST").build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(403, other.statusCode());
        assertTrue(other.headers().firstValue("Access-Control-Allow-Origin").isEmpty());
    }

    @Test
    void withoutTheTokenNothingIsDecoded() throws Exception {
        String body = json(CODEC.encode(List.of(plain("secret"))));
        assertEquals(401, post("/decode", body, null).statusCode());
        HttpResponse<String> wrong = post("/decode", body, "Bearer not-the-token");
        assertEquals(401, wrong.statusCode());
        assertFalse(wrong.body().contains("secret"));
    }

    @Test
    void badRequestsGetClearStatuses() throws Exception {
        HttpResponse<String> invalid = post("/decode", "{not json", "Bearer " + TOKEN);
        assertEquals(400, invalid.statusCode());
        assertTrue(invalid.body().contains("invalid JSON"), invalid.body());

        Payload sealed = CODEC.encode(List.of(plain("x"))).get(0);
        byte[] data = sealed.getData().toByteArray();
        data[20] ^= 1;
        String tampered = json(List.of(sealed.toBuilder().setData(com.google.protobuf.ByteString.copyFrom(data)).build()));
        HttpResponse<String> bad = post("/decode", tampered, "Bearer " + TOKEN);
        assertEquals(400, bad.statusCode());
        assertTrue(bad.body().contains("failed authentication"), bad.body());

        assertEquals(404, post("/other", "{}", "Bearer " + TOKEN).statusCode());
        HttpResponse<String> get = http.send(HttpRequest.newBuilder(server.endpoint().resolve("/decode")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(405, get.statusCode());
    }

    @Test
    void withoutATokenConfiguredAnyCallerMayUseIt() throws Exception {
        try (CodecServer open = CodecServer.start("127.0.0.1", 0, CODEC, Set.of(), null)) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(open.endpoint() + "/decode"))
                    .POST(HttpRequest.BodyPublishers.ofString(json(CODEC.encode(List.of(plain(7)))))).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("7", parse(r.body()).get(0).getData().toStringUtf8());
            assertTrue(r.headers().firstValue("Access-Control-Allow-Origin").isEmpty());
        }
    }
}
