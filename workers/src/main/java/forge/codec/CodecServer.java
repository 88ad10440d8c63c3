package forge.codec;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.temporal.api.common.v1.Payloads;
import io.temporal.payload.codec.PayloadCodec;
import io.temporal.payload.codec.PayloadCodecException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Temporal's remote codec protocol over HTTP, so that the Web UI and {@code temporal --codec-endpoint} can show
 * encrypted payloads: {@code POST .../encode} and {@code POST .../decode}, each taking and returning
 * {@code {"payloads": [...]}} in protobuf JSON (metadata values and data base64). Only the last path segment counts,
 * so {@code /default/decode} (the CLI's {@code {namespace}} template) works as well as {@code /decode}.
 *
 * <p>Browsers call it cross-origin from the UI, so the UI's origin must be allowed explicitly; the preflight
 * ({@code OPTIONS}) is answered without a token because browsers never send one on it. With a token configured,
 * every encode and decode needs {@code Authorization: Bearer <token>}: whoever can call {@code /decode} can read
 * every payload.
 */
public final class CodecServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CodecServer.class);
    /** Temporal caps one payload at 2 MB; a UI page decodes a few dozen at once. */
    static final int MAX_BODY_BYTES = 64 << 20;

    private final HttpServer server;
    private final ExecutorService executor;

    private CodecServer(HttpServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /**
     * @param corsOrigins origins (scheme://host[:port], e.g. {@code http://localhost:8080}) whose pages may call
     *                    this server; empty allows none (the temporal CLI needs no CORS)
     * @param token       bearer token every encode/decode must present, or null for none
     */
    public static CodecServer start(String host, int port, PayloadCodec codec, Set<String> corsOrigins, String token)
            throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
        ExecutorService executor = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "codec-server");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        Handler handler = new Handler(codec, Set.copyOf(corsOrigins),
                token == null || token.isBlank() ? null : ("Bearer " + token.strip()).getBytes(StandardCharsets.UTF_8));
        server.createContext("/", handler::handle);
        server.start();
        return new CodecServer(server, executor);
    }

    public int port() {
        return server.getAddress().getPort();
    }

    public URI endpoint() {
        InetSocketAddress a = server.getAddress();
        String host = a.getAddress().isAnyLocalAddress() ? "127.0.0.1" : a.getAddress().getHostAddress();
        return URI.create("http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort());
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }

    private record Handler(PayloadCodec codec, Set<String> corsOrigins, byte[] expectedAuthorization) {
        void handle(HttpExchange ex) throws IOException {
            try {
                String origin = ex.getRequestHeaders().getFirst("Origin");
                boolean allowedOrigin = origin != null && corsOrigins.contains(origin);
                if (allowedOrigin) {
                    ex.getResponseHeaders().add("Access-Control-Allow-Origin", origin);
                    ex.getResponseHeaders().add("Access-Control-Allow-Credentials", "true");
                }
                ex.getResponseHeaders().add("Vary", "Origin");
                String method = ex.getRequestMethod();
                if (method.equals("OPTIONS")) {
                    preflight(ex, allowedOrigin);
                    return;
                }
                String path = ex.getRequestURI().getPath();
                String last = path.substring(path.lastIndexOf('/') + 1);
                if (!last.equals("encode") && !last.equals("decode")) {
                    send(ex, 404, "text/plain", "not found: POST .../encode or .../decode");
                    return;
                }
                if (!method.equals("POST")) {
                    ex.getResponseHeaders().add("Allow", "POST, OPTIONS");
                    send(ex, 405, "text/plain", "method not allowed: POST .../" + last);
                    return;
                }
                if (!authorized(ex)) {
                    ex.getResponseHeaders().add("WWW-Authenticate", "Bearer");
                    send(ex, 401, "text/plain", "unauthorized: send Authorization: Bearer <token>");
                    return;
                }
                byte[] body = readBody(ex.getRequestBody());
                if (body == null) {
                    send(ex, 413, "text/plain", "request body larger than " + MAX_BODY_BYTES + " bytes");
                    return;
                }
                Payloads.Builder in = Payloads.newBuilder();
                try {
                    JsonFormat.parser().ignoringUnknownFields().merge(new String(body, StandardCharsets.UTF_8), in);
                } catch (InvalidProtocolBufferException | RuntimeException e) {
                    send(ex, 400, "text/plain", "invalid JSON: expected {\"payloads\": [...]} in protobuf JSON");
                    return;
                }
                Payloads out;
                try {
                    out = Payloads.newBuilder().addAllPayloads(last.equals("encode")
                            ? codec.encode(in.getPayloadsList()) : codec.decode(in.getPayloadsList())).build();
                } catch (PayloadCodecException e) {
                    send(ex, 400, "text/plain", e.getMessage());
                    return;
                }
                send(ex, 200, "application/json", JsonFormat.printer().omittingInsignificantWhitespace().print(out));
            } catch (IOException | RuntimeException e) {
                // Never the payloads: they are exactly what must not reach a log.
                log.warn("codec request failed: {}", e.getClass().getSimpleName());
                throw e;
            } finally {
                ex.close();
            }
        }

        private void preflight(HttpExchange ex, boolean allowedOrigin) throws IOException {
            if (!allowedOrigin) {
                send(ex, 403, "text/plain", "origin not allowed: start the codec server with --cors-origin <origin>");
                return;
            }
            ex.getResponseHeaders().add("Access-Control-Allow-Methods", "POST, OPTIONS");
            ex.getResponseHeaders().add("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace");
            ex.getResponseHeaders().add("Access-Control-Max-Age", "600");
            ex.sendResponseHeaders(204, -1);
        }

        private boolean authorized(HttpExchange ex) {
            if (expectedAuthorization == null) {
                return true;
            }
            List<String> given = ex.getRequestHeaders().get("Authorization");
            if (given == null || given.size() != 1) {
                return false;
            }
            // Constant time: the token must not be guessable byte by byte from response times.
            return MessageDigest.isEqual(expectedAuthorization, given.get(0).strip().getBytes(StandardCharsets.UTF_8));
        }

        private static byte[] readBody(InputStream in) throws IOException {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[65536];
            int n;
            while ((n = in.read(buf)) > 0) {
                if (out.size() + n > MAX_BODY_BYTES) {
                    return null;
                }
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        }

        private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", type + "; charset=utf-8");
            ex.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
    }
}
