package forge.data;

import com.fasterxml.jackson.databind.JsonNode;
import forge.demo.DemoUri;
import forge.demo.DemoWorld;
import forge.errors.BadInputException;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * Reads a source's documents: a text file is one document, a JSONL file one document per non-blank line. Files are
 * read once, as a stream. Everything wrong with the data is a {@link BadInputException} naming the source, file and
 * line; an I/O failure that a retry might fix is an {@link UncheckedIOException}.
 */
public final class Documents {
    private Documents() {
    }

    /**
     * @param remote opens {@code s3://} paths; null where no object store is configured
     */
    public static List<String> read(SourceSpec src, int sourceIndex, UriOpener remote) {
        String where = SourceSpec.fieldName(sourceIndex);
        String path = src.path();
        List<String> docs;
        if (DemoUri.isDemo(path)) {
            DemoUri demo = DemoUri.parse(path, where + ".path");
            if (!demo.dataset().equals("pretrain")) {
                throw BadInputException.field(where + ".path", path + " is not pretraining text (use demo:pretrain)");
            }
            docs = new DemoWorld(demo.seed()).pretrainDocuments(demo.count());
        } else {
            try (InputStream in = open(path, where, remote)) {
                docs = src.resolvedFormat().equals("jsonl") ? jsonl(in, path, src.field()) : List.of(text(in, path));
            } catch (IOException e) {
                throw new UncheckedIOException("reading " + path + ": " + e.getMessage(), e);
            }
        }
        if (docs.stream().allMatch(String::isBlank)) {
            throw new BadInputException(where + ": " + path + " contains no text");
        }
        return docs;
    }

    static InputStream open(String path, String where, UriOpener remote) throws IOException {
        InputStream in;
        if (path.startsWith("s3://")) {
            if (remote == null) {
                throw BadInputException.field(where + ".path",
                        path + " is in S3, but this worker has no object store configured");
            }
            try {
                in = remote.open(path);
            } catch (FileNotFoundException | NoSuchFileException e) {
                throw BadInputException.field(where + ".path", path + " does not exist");
            }
        } else {
            Path file = Path.of(path.startsWith("file:") ? java.net.URI.create(path).getPath() : path);
            if (!Files.exists(file)) {
                throw BadInputException.field(where + ".path", path + " does not exist");
            }
            if (Files.isDirectory(file)) {
                throw BadInputException.field(where + ".path", path + " is a directory; name a file");
            }
            in = Files.newInputStream(file);
        }
        return path.endsWith(".gz") ? new GZIPInputStream(in, 1 << 16) : in;
    }

    /** A decoder that rejects malformed UTF-8 instead of silently training on replacement characters. */
    private static Reader utf8(InputStream in) {
        return new InputStreamReader(in, StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT));
    }

    private static String text(InputStream in, String path) throws IOException {
        StringBuilder sb = new StringBuilder();
        char[] buf = new char[1 << 16];
        try (Reader r = utf8(in)) {
            int n;
            while ((n = r.read(buf)) > 0) {
                sb.append(buf, 0, n);
            }
        } catch (CharacterCodingException e) {
            throw new BadInputException(path + ": not valid UTF-8 text", e);
        }
        return stripBom(sb.toString());
    }

    /** Editors on Windows start UTF-8 files with a byte-order mark; it is not text. */
    private static String stripBom(String s) {
        return s.startsWith("\uFEFF") ? s.substring(1) : s;
    }

    private static List<String> jsonl(InputStream in, String path, String field) throws IOException {
        List<String> docs = new ArrayList<>();
        JsonlReader.read(in, path, (node, line) -> {
            JsonNode value = node.get(field);
            if (value == null || !value.isTextual()) {
                throw BadInputException.at(path, line, "missing string field \"" + field + "\"");
            }
            if (!value.textValue().isEmpty()) {
                docs.add(value.textValue());
            }
        });
        return docs;
    }
}
