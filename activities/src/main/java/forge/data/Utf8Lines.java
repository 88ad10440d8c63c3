package forge.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Reads lines of strict UTF-8 from a stream. Decoding each line separately (rather than through a buffered Reader,
 * which decodes ahead) lets an encoding error be reported at the line it is really on.
 */
final class Utf8Lines {
    private final InputStream in;
    private final byte[] buf = new byte[1 << 16];
    private int pos;
    private int limit;
    private byte[] line = new byte[256];
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);

    Utf8Lines(InputStream in) {
        this.in = in;
    }

    /** The next line without its "\n" or "\r\n", or null at the end of the stream. */
    String next() throws IOException {
        int len = 0;
        boolean any = false;
        while (true) {
            if (pos == limit) {
                limit = in.read(buf, 0, buf.length);
                pos = 0;
                if (limit <= 0) {
                    limit = 0;
                    if (!any) {
                        return null;
                    }
                    break;
                }
            }
            any = true;
            byte b = buf[pos++];
            if (b == '\n') {
                break;
            }
            if (len == line.length) {
                line = Arrays.copyOf(line, len * 2);
            }
            line[len++] = b;
        }
        if (len > 0 && line[len - 1] == '\r') {
            len--;
        }
        return decode(len);
    }

    private String decode(int len) throws CharacterCodingException {
        return decoder.reset().decode(ByteBuffer.wrap(line, 0, len)).toString();
    }
}
