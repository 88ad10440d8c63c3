package forge.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.errors.BadInputException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;

/**
 * Reads a JSONL file (local path, {@code file:} URI or {@code s3://}, optionally gzipped) one parsed line at a time,
 * with the same conventions as {@link Documents}: a leading byte-order mark and blank lines are skipped, bad UTF-8 and
 * malformed JSON are a {@link BadInputException} naming file and line, a missing file names the config field, and an
 * I/O failure a retry might fix is an {@link UncheckedIOException}. For readers of other record shapes (SFT, preference
 * pairs) that need more than one text field per line.
 */
public final class JsonlReader {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private JsonlReader() {
    }

    /** Receives each non-blank line, parsed; {@code line} is 1-based, as {@link BadInputException#at} wants it. */
    @FunctionalInterface
    public interface LineHandler {
        void accept(JsonNode node, long line);
    }

    /**
     * @param where  the config field the path came from ("data.sources[0]"), named when the file cannot be found
     * @param remote opens {@code s3://} paths; null where no object store is configured
     */
    public static void read(String path, String where, UriOpener remote, LineHandler handler) {
        try (InputStream in = Documents.open(path, where, remote)) {
            read(in, path, handler);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + path + ": " + e.getMessage(), e);
        }
    }

    /** The same, over a stream the caller opened; {@code path} only names it in errors. */
    static void read(InputStream in, String path, LineHandler handler) throws IOException {
        Utf8Lines lines = new Utf8Lines(in);
        long lineNo = 0;
        while (true) {
            String line;
            try {
                line = lines.next();
            } catch (CharacterCodingException e) {
                throw BadInputException.at(path, lineNo + 1, "not valid UTF-8 text");
            }
            if (line == null) {
                return;
            }
            lineNo++;
            if (lineNo == 1 && line.startsWith("\uFEFF")) {
                line = line.substring(1);
            }
            if (line.isBlank()) {
                continue;
            }
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                throw BadInputException.at(path, lineNo, "not valid JSON (" + e.getOriginalMessage() + ")");
            }
            handler.accept(node, lineNo);
        }
    }
}
