package forge.data;

import forge.demo.DemoWorld;
import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.FileNotFoundException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DocumentsTest {
    @TempDir
    Path dir;

    private Path write(String name, String content) throws Exception {
        Path p = dir.resolve(name);
        Files.writeString(p, content, StandardCharsets.UTF_8);
        return p;
    }

    private static List<String> read(Path p) {
        return Documents.read(SourceSpec.of(p.toString()), 0, null);
    }

    @Test
    void aTextFileIsOneDocument() throws Exception {
        Path p = write("book.txt", "\uFEFFFirst line.\n\nSecond paragraph with ünïcode 🙂.\n");
        assertEquals(List.of("First line.\n\nSecond paragraph with ünïcode 🙂.\n"), read(p));
    }

    @Test
    void aJsonlFileIsOneDocumentPerLine() throws Exception {
        Path p = write("docs.jsonl", "{\"text\": \"one\", \"id\": 1}\n\n   \n{\"text\": \"two\\nlines\"}\n{\"text\": \"\"}\n");
        assertEquals(List.of("one", "two\nlines"), read(p));
        Path q = write("chat.jsonl", "{\"body\": \"hello\"}\n");
        assertEquals(List.of("hello"), Documents.read(new SourceSpec(q.toString(), 1, "auto", "body"), 0, null));
        Path forced = write("data.txt", "{\"text\": \"as json\"}\n");
        assertEquals(List.of("as json"), Documents.read(new SourceSpec(forced.toString(), 1, "jsonl", null), 0, null));
    }

    @Test
    void gzippedJsonlIsReadAsAStream() throws Exception {
        Path p = dir.resolve("big.jsonl.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(p))) {
            for (int i = 0; i < 1000; i++) {
                out.write(("{\"text\": \"doc " + i + "\"}\n").getBytes(StandardCharsets.UTF_8));
            }
        }
        List<String> docs = read(p);
        assertEquals(1000, docs.size());
        assertEquals("doc 999", docs.get(999));
    }

    @Test
    void demoPathsAreGeneratedNotRead() {
        List<String> docs = Documents.read(SourceSpec.of("demo:pretrain?seed=7&docs=50"), 0, null);
        assertEquals(new DemoWorld(7).pretrainDocuments(50), docs);
        assertMessage("data.sources[2].path: demo:sft?seed=1 is not pretraining text",
                () -> Documents.read(SourceSpec.of("demo:sft?seed=1"), 2, null));
    }

    @Test
    void s3PathsGoThroughTheOpener() {
        Map<String, String> bucket = Map.of("s3://b/docs.jsonl", "{\"text\": \"from s3\"}\n");
        UriOpener opener = uri -> {
            String body = bucket.get(uri);
            if (body == null) {
                throw new FileNotFoundException(uri);
            }
            return new ByteArrayInputStream(body.getBytes(StandardCharsets.UTF_8));
        };
        assertEquals(List.of("from s3"), Documents.read(SourceSpec.of("s3://b/docs.jsonl"), 0, opener));
        assertMessage("data.sources[1].path: s3://b/missing.txt does not exist",
                () -> Documents.read(SourceSpec.of("s3://b/missing.txt"), 1, opener));
        assertMessage("data.sources[0].path: s3://b/docs.jsonl is in S3, but this worker has no object store",
                () -> Documents.read(SourceSpec.of("s3://b/docs.jsonl"), 0, null));
    }

    @Test
    void aMissingFileNamesTheSourceField() {
        assertMessage("data.sources[0].path: /x/y.txt does not exist", () -> read(Path.of("/x/y.txt")));
        assertMessage("data.sources[0].path: " + dir + " is a directory", () -> read(dir));
    }

    @Test
    void aMalformedJsonlLineNamesFileAndLine() throws Exception {
        Path p = write("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n");
        assertMessage(p + ":2: not valid JSON (", () -> read(p));
        Path trailing = write("trailing.jsonl", "{\"text\": \"ok\"} {\"text\": \"more\"}\n");
        assertMessage(trailing + ":1: not valid JSON (", () -> read(trailing));
    }

    @Test
    void aMissingOrNonStringFieldNamesFileAndLine() throws Exception {
        Path missing = write("missing.jsonl", "{\"text\": \"ok\"}\n\n{\"content\": \"x\"}\n");
        assertMessage(missing + ":3: missing string field \"text\"", () -> read(missing));
        Path number = write("number.jsonl", "{\"text\": 42}\n");
        assertMessage(number + ":1: missing string field \"text\"", () -> read(number));
        Path array = write("array.jsonl", "[\"text\"]\n");
        assertMessage(array + ":1: missing string field \"text\"", () -> read(array));
    }

    @Test
    void aSourceWithNoTextSaysSo() throws Exception {
        Path empty = write("empty.txt", "");
        assertMessage("data.sources[1]: " + empty + " contains no text",
                () -> Documents.read(SourceSpec.of(empty.toString()), 1, null));
        Path blank = write("blank.jsonl", "\n\n{\"text\": \"  \"}\n");
        assertMessage("data.sources[1]: " + blank + " contains no text",
                () -> Documents.read(SourceSpec.of(blank.toString()), 1, null));
    }

    @Test
    void invalidUtf8IsBadInputNotGarbage() throws Exception {
        Path p = dir.resolve("latin1.jsonl");
        Files.write(p, "{\"text\": \"ok\"}\n{\"text\": \"caf\u00e9\"}\n".getBytes(StandardCharsets.ISO_8859_1));
        assertMessage(p + ":2: not valid UTF-8", () -> read(p));
    }

    @Test
    void sourceSpecsAreValidatedWithTheirFullFieldName() {
        assertMessage("data.sources[2].weight: must be a finite number > 0, got -1.0",
                () -> SourceSpec.at(2, "a.txt", -1.0, null, null));
        assertMessage("data.sources[0].weight: must be a finite number > 0, got NaN",
                () -> SourceSpec.at(0, "a.txt", Double.NaN, null, null));
        assertMessage("data.sources[1].path: must not be blank", () -> SourceSpec.at(1, " ", 1.0, null, null));
        assertMessage("data.sources[3].format: must be auto, text or jsonl",
                () -> SourceSpec.at(3, "a.txt", 1.0, "csv", null));
        SourceSpec s = SourceSpec.at(0, "a.JSONL", null, null, null);
        assertEquals(new SourceSpec("a.JSONL", 1.0, "auto", "text"), s);
        assertEquals("jsonl", s.resolvedFormat());
        assertEquals("text", SourceSpec.of("a.txt.gz").resolvedFormat());
        assertEquals("jsonl", SourceSpec.of("a.ndjson.gz").resolvedFormat());
    }

    private static void assertMessage(String prefix, Runnable r) {
        BadInputException e = assertThrows(BadInputException.class, r::run);
        assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
    }
}
