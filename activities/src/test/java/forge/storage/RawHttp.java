package forge.storage;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Just enough HTTP/1.1 for {@link FaultyS3Proxy}: one request per connection, its body framed by Content-Length or
 * chunked, forwarded byte for byte. Only hop-by-hop headers change, which SigV4 leaves unsigned, so the signature the
 * client computed for the proxy's host still verifies upstream.
 */
final class RawHttp {
    private static final int MAX_HEAD = 64 * 1024;
    private static final int END_OF_HEAD = ('\r' << 24) | ('\n' << 16) | ('\r' << 8) | '\n';
    private static final byte[] CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
    private static final List<String> HOP_BY_HOP = List.of("connection", "keep-alive", "proxy-connection", "expect");

    private RawHttp() {
    }

    /** @param body raw as it came over the wire (still chunk-encoded if it was) */
    record Request(String method, String target, List<String> headers, byte[] body) {
        /** The path without the query: "/bucket/key". */
        String path() {
            int q = target.indexOf('?');
            return q < 0 ? target : target.substring(0, q);
        }

        boolean isUpload() {
            return method.equals("PUT") && body.length > 0;
        }

        /** The head to send upstream: the upstream closes after answering, which is how the proxy frames replies. */
        byte[] forwardHead() {
            StringBuilder sb = new StringBuilder(method).append(' ').append(target).append(" HTTP/1.1\r\n");
            for (String h : headers) {
                if (!HOP_BY_HOP.contains(name(h))) {
                    sb.append(h).append("\r\n");
                }
            }
            sb.append("Connection: close\r\n\r\n");
            return sb.toString().getBytes(StandardCharsets.ISO_8859_1);
        }
    }

    /**
     * Reads one request; null if the client closed without sending one. Answers "100 Continue" itself: the proxy must
     * hold the whole body before it decides what to do with the request, and the AWS SDK asks before every upload.
     */
    static Request readRequest(InputStream in, OutputStream out) throws IOException {
        String head = readHead(in);
        if (head == null) {
            return null;
        }
        String[] lines = head.split("\r\n");
        String[] requestLine = lines[0].split(" ", 3);
        if (requestLine.length != 3) {
            throw new IOException("malformed request line: " + lines[0]);
        }
        List<String> headers = List.of(lines).subList(1, lines.length);
        if ("100-continue".equalsIgnoreCase(header(headers, "expect"))) {
            out.write(CONTINUE);
            out.flush();
        }
        byte[] body;
        String te = header(headers, "transfer-encoding");
        if (te != null && te.toLowerCase(Locale.ROOT).contains("chunked")) {
            body = readChunked(in);
        } else {
            String cl = header(headers, "content-length");
            int length = cl == null ? 0 : Integer.parseInt(cl.trim());
            body = in.readNBytes(length);
            if (body.length != length) {
                throw new IOException("client sent " + body.length + " of " + length + " body bytes");
            }
        }
        return new Request(requestLine[0], requestLine[1], headers, body);
    }

    /**
     * An upstream reply, read until the upstream closed, as the proxy's client gets it: interim 1xx heads dropped and
     * "Connection: close" set, since the proxy answers one request per connection.
     */
    static byte[] closingReply(byte[] upstream) throws IOException {
        int start = 0;
        while (true) {
            int end = indexOf(upstream, start);
            if (end < 0) {
                throw new IOException("upstream reply has no complete head");
            }
            String head = new String(upstream, start, end - start, StandardCharsets.ISO_8859_1);
            String[] lines = head.split("\r\n");
            if (lines[0].matches("HTTP/1\\.[01] 1\\d\\d.*")) {
                start = end + 4;
                continue;
            }
            StringBuilder sb = new StringBuilder(lines[0]).append("\r\n");
            for (int i = 1; i < lines.length; i++) {
                if (!HOP_BY_HOP.contains(name(lines[i]))) {
                    sb.append(lines[i]).append("\r\n");
                }
            }
            sb.append("Connection: close\r\n\r\n");
            ByteArrayOutputStream out = new ByteArrayOutputStream(upstream.length - end + sb.length());
            out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(upstream, end + 4, upstream.length - end - 4);
            return out.toByteArray();
        }
    }

    static String header(List<String> headers, String lowerCaseName) {
        for (String h : headers) {
            if (name(h).equals(lowerCaseName)) {
                return h.substring(h.indexOf(':') + 1).trim();
            }
        }
        return null;
    }

    private static String name(String headerLine) {
        int colon = headerLine.indexOf(':');
        return (colon < 0 ? headerLine : headerLine.substring(0, colon)).trim().toLowerCase(Locale.ROOT);
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int lastFour = 0;
        while (lastFour != END_OF_HEAD) {
            int b = in.read();
            if (b < 0) {
                if (head.size() == 0) {
                    return null;
                }
                throw new IOException("connection closed inside a request head");
            }
            head.write(b);
            lastFour = (lastFour << 8) | b;
            if (head.size() > MAX_HEAD) {
                throw new IOException("request head longer than " + MAX_HEAD + " bytes");
            }
        }
        byte[] bytes = head.toByteArray();
        return new String(bytes, 0, bytes.length - 4, StandardCharsets.ISO_8859_1);
    }

    /** The chunked body as sent, framing included, so it can be forwarded (or cut) verbatim. */
    private static byte[] readChunked(InputStream in) throws IOException {
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        while (true) {
            String sizeLine = readLine(in, raw);
            int semi = sizeLine.indexOf(';');
            int size = Integer.parseInt((semi < 0 ? sizeLine : sizeLine.substring(0, semi)).trim(), 16);
            if (size == 0) {
                while (!readLine(in, raw).isEmpty()) {
                    // trailer fields
                }
                return raw.toByteArray();
            }
            byte[] chunk = in.readNBytes(size + 2);
            if (chunk.length != size + 2) {
                throw new IOException("connection closed inside a chunk");
            }
            raw.write(chunk);
        }
    }

    private static String readLine(InputStream in, ByteArrayOutputStream raw) throws IOException {
        StringBuilder sb = new StringBuilder();
        int prev = -1;
        while (true) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed inside chunk framing");
            }
            raw.write(b);
            if (prev == '\r' && b == '\n') {
                return sb.substring(0, sb.length() - 1);
            }
            sb.append((char) b);
            prev = b;
        }
    }

    private static int indexOf(byte[] data, int from) {
        for (int i = from; i + 3 < data.length; i++) {
            if (data[i] == '\r' && data[i + 1] == '\n' && data[i + 2] == '\r' && data[i + 3] == '\n') {
                return i;
            }
        }
        return -1;
    }
}
