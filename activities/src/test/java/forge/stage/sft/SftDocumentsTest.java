package forge.stage.sft;

import forge.chat.Conversation;
import forge.chat.Turn;
import forge.data.SourceSpec;
import forge.demo.DemoWorld;
import forge.demo.Split;
import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.FileNotFoundException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SftDocumentsTest {
    @TempDir
    Path dir;

    private Path write(String content) throws Exception {
        Path p = dir.resolve("sft.jsonl");
        Files.writeString(p, content, StandardCharsets.UTF_8);
        return p;
    }

    private static List<Conversation> read(Path p) {
        return SftDocuments.read(SourceSpec.of(p.toString()), 0, null);
    }

    private String error(String content) throws Exception {
        Path p = write(content);
        return assertThrows(BadInputException.class, () -> read(p)).getMessage();
    }

    @Test
    void readsPromptResponseAndChatLines() throws Exception {
        Path p = write("\uFEFF{\"prompt\": \"What is 2 plus 3?\", \"response\": \"5.\", \"id\": 9}\n\n"
                + "{\"system\": \"Be brief.\", \"prompt\": \"Hi\", \"response\": \"Hello\"}\n"
                + "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"},"
                + " {\"role\": \"user\", \"content\": \"U1\"},"
                + " {\"role\": \"assistant\", \"content\": \"A1\"}, {\"role\": \"user\", \"content\": \"U2\"},"
                + " {\"role\": \"assistant\", \"content\": \"A2\", \"name\": \"x\"}]}\r\n");
        assertEquals(List.of(
                Conversation.of("What is 2 plus 3?", "5."),
                new Conversation(List.of(Turn.system("Be brief."), Turn.user("Hi"), Turn.assistant("Hello"))),
                new Conversation(List.of(Turn.system("S"), Turn.user("U1"), Turn.assistant("A1"), Turn.user("U2"),
                        Turn.assistant("A2")))), read(p));
    }

    @Test
    void everyProblemNamesFileAndLine() throws Exception {
        String ok = "{\"prompt\": \"p\", \"response\": \"r\"}\n";
        String file = dir.resolve("sft.jsonl").toString();

        String m = error(ok + "{\"prompt\": \"p\"}\n");
        assertTrue(m.startsWith(file + ":2: ") && m.contains("missing string field \"response\""), m);

        m = error(ok + ok + "{\"response\": \"r\"}\n");
        assertTrue(m.startsWith(file + ":3: ") && m.contains("missing string field \"prompt\""), m);

        m = error("{\"prompt\": \"p\", \"response\": 5}\n");
        assertTrue(m.startsWith(file + ":1: ") && m.contains("\"response\" must be a string, got a number"), m);

        m = error(ok + "{\"prompt\": \"p\", \"response\": \"  \"}\n");
        assertTrue(m.startsWith(file + ":2: ") && m.contains("\"response\" is empty"), m);

        m = error(ok + "\n{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", "
                + "\"content\": \"\"}]}\n");
        assertTrue(m.startsWith(file + ":3: ") && m.contains("messages[1]: empty assistant turn"), m);

        m = error("{\"messages\": [{\"role\": \"bot\", \"content\": \"q\"}]}\n");
        assertTrue(m.startsWith(file + ":1: ")
                && m.contains("unknown role \"bot\" (allowed: system, user, assistant)"), m);

        m = error(ok + "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, "
                + "{\"role\": \"user\", \"content\": \"q\"}]}\n");
        assertTrue(m.startsWith(file + ":2: ") && m.contains("no assistant turn"), m);

        m = error(ok + "{\"prompt\": \"p\", \"response\": \"r\"\n");
        assertTrue(m.startsWith(file + ":2: ") && m.contains("not valid JSON"), m);

        m = error(ok + "{\"prompt\": \"p\", \"response\": \"r\"} trailing\n");
        assertTrue(m.startsWith(file + ":2: ") && m.contains("not valid JSON"), m);

        m = error("{\"messages\": [{\"role\": \"user\", \"content\": [\"q\"]}, "
                + "{\"role\": \"assistant\", \"content\": \"a\"}]}\n");
        assertTrue(m.startsWith(file + ":1: ") && m.contains("messages[0].content must be a string, got an array"), m);

        m = error("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\"}]}\n");
        assertTrue(m.startsWith(file + ":1: ") && m.contains("messages[1].content must be a string, got nothing"), m);

        m = error("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"system\", \"content\": "
                + "\"s\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n");
        assertTrue(m.startsWith(file + ":1: ") && m.contains("system message may only come first"), m);

        m = error("{\"messages\": \"hello\"}\n");
        assertTrue(m.startsWith(file + ":1: ") && m.contains("\"messages\" must be an array"), m);

        m = error("[1, 2]\n");
        assertTrue(m.startsWith(file + ":1: ") && m.contains("expected a JSON object"), m);

        Path bad = dir.resolve("bad.jsonl");
        byte[] first = ok.getBytes(StandardCharsets.UTF_8);
        byte[] bytes = java.util.Arrays.copyOf(first, first.length + 2);
        bytes[first.length] = (byte) 0xC3;
        bytes[first.length + 1] = '\n';
        Files.write(bad, bytes);
        m = assertThrows(BadInputException.class, () -> read(bad)).getMessage();
        assertTrue(m.startsWith(bad + ":2: ") && m.contains("UTF-8"), m);
    }

    @Test
    void gzippedFilesAreRead() throws Exception {
        Path p = dir.resolve("sft.jsonl.gz");
        try (java.io.OutputStream out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(p))) {
            for (int i = 0; i < 50; i++) {
                out.write(("{\"prompt\": \"q" + i + "\", \"response\": \"a" + i + "\"}\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
        }
        List<Conversation> got = read(p);
        assertEquals(50, got.size());
        assertEquals(Conversation.of("q49", "a49"), got.get(49));
    }

    @Test
    void missingAndEmptyFilesNameTheSource() throws Exception {
        String m = assertThrows(BadInputException.class,
                () -> SftDocuments.read(SourceSpec.of(dir.resolve("nope.jsonl").toString()), 3, null)).getMessage();
        assertTrue(m.startsWith("data.sources[3].path: ") && m.contains("does not exist"), m);
        Path empty = write("\n\n");
        m = assertThrows(BadInputException.class, () -> read(empty)).getMessage();
        assertTrue(m.contains("contains no SFT examples"), m);
        m = assertThrows(BadInputException.class,
                () -> SftDocuments.read(SourceSpec.of("s3://b/sft.jsonl"), 0, null)).getMessage();
        assertTrue(m.contains("no object store"), m);
    }

    @Test
    void s3PathsGoThroughTheOpener() {
        byte[] body = "{\"prompt\": \"p\", \"response\": \"r\"}\n".getBytes(StandardCharsets.UTF_8);
        List<Conversation> got = SftDocuments.read(SourceSpec.of("s3://bucket/sft.jsonl"), 0, uri -> {
            assertEquals("s3://bucket/sft.jsonl", uri);
            return new ByteArrayInputStream(body);
        });
        assertEquals(List.of(Conversation.of("p", "r")), got);
        String m = assertThrows(BadInputException.class, () -> SftDocuments.read(SourceSpec.of("s3://bucket/x.jsonl"),
                1, uri -> {
                    throw new FileNotFoundException(uri);
                })).getMessage();
        assertTrue(m.startsWith("data.sources[1].path: ") && m.contains("does not exist"), m);
    }

    @Test
    void demoUrisRegenerateTheWorldsExamples() {
        List<Conversation> train = SftDocuments.read(SourceSpec.of("demo:sft?seed=7&count=20&split=train"), 0, null);
        List<Conversation> held = SftDocuments.read(SourceSpec.of("demo:sft?seed=7&count=5&split=held_out"), 0, null);
        assertEquals(20, train.size());
        assertEquals(5, held.size());
        DemoWorld w = new DemoWorld(7);
        var expected = w.sftExamples(20, Split.TRAIN).get(3);
        assertEquals(Conversation.of(expected.prompt(), expected.response()), train.get(3));
        assertEquals(Conversation.of(w.sftExamples(5, Split.HELD_OUT).get(0).prompt(),
                w.sftExamples(5, Split.HELD_OUT).get(0).response()), held.get(0));
        String m = assertThrows(BadInputException.class,
                () -> SftDocuments.read(SourceSpec.of("demo:pretrain?seed=7"), 2, null)).getMessage();
        assertTrue(m.startsWith("data.sources[2].path: ") && m.contains("use demo:sft"), m);
    }
}
