package forge.preference;

import forge.chat.Turn;
import forge.data.SourceSpec;
import forge.demo.DemoWorld;
import forge.demo.Split;
import forge.errors.BadInputException;
import forge.preference.PreferenceGroup.Pair;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PreferenceDocumentsTest {
    @TempDir
    Path dir;

    private Path write(String content) throws Exception {
        Path p = dir.resolve("prefs.jsonl");
        Files.writeString(p, content, StandardCharsets.UTF_8);
        return p;
    }

    private static PreferenceDocuments.Read read(Path p) {
        return PreferenceDocuments.read(SourceSpec.of(p.toString()), 0, null);
    }

    /** The message of the error reading {@code content}, checked to start with "file:line: ". */
    private String error(String content, int line) throws Exception {
        Path p = write(content);
        String m = assertThrows(BadInputException.class, () -> read(p)).getMessage();
        assertTrue(m.startsWith(p + ":" + line + ": "), m);
        return m;
    }

    private static String json(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    @Test
    void readsComparisonsWithPromptSystemMessagesAndMargin() throws Exception {
        Path p = write("\uFEFF{\"prompt\": \"What is 2 plus 3?\", \"chosen\": \"5.\", \"rejected\": \"6.\", "
                + "\"id\": 9}\n"
                + "\n"
                + "{\"system\": \"Be brief.\", \"prompt\": \"Hi\", \"chosen\": \"Hello\", \"rejected\": \"Go away\", "
                + "\"margin\": 1.5}\n"
                + "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, "
                + "{\"role\": \"user\", \"content\": \"U1\"},"
                + " {\"role\": \"assistant\", \"content\": \"A1\"}, {\"role\": \"user\", \"content\": \"U2\"}],"
                + " \"chosen\": \"good\", \"rejected\": \"bad\", \"margin\": 0}\r\n");
        PreferenceDocuments.Read r = read(p);
        assertEquals(List.of(
                PreferenceGroup.comparison("What is 2 plus 3?", "5.", "6.", 0),
                new PreferenceGroup(List.of(Turn.system("Be brief."), Turn.user("Hi")), List.of("Hello", "Go away"),
                        List.of(new Pair(0, 1, 1.5))),
                new PreferenceGroup(List.of(Turn.system("S"), Turn.user("U1"), Turn.assistant("A1"), Turn.user("U2")),
                        List.of("good", "bad"), List.of(Pair.of(0, 1)))), r.groups());
        assertEquals(3, r.pairs());
        assertEquals(0, r.skippedIdenticalPairs());
        assertEquals(0, r.skippedLines());
    }

    @Test
    void splitsAnthropicHhTranscriptsAtTheLastSharedAssistantMarker() throws Exception {
        String shared = "\n\nHuman: What is a good name for a cat?\n\nAssistant: How about Whiskers?"
                + "\n\nHuman: Something less common, please.\n\nAssistant:";
        String chosen = shared + " How about Pistachio? It is unusual and friendly.";
        // The replies share their first words: the split must still be at the marker, not where they part.
        String rejected = shared + " How about Cat?";
        Path p = write("{\"chosen\": " + json(chosen) + ", \"rejected\": " + json(rejected) + ", \"margin\": 2}\n"
                // A transcript without the leading blank line is accepted too.
                + "{\"chosen\": " + json("Human: hi\n\nAssistant: Hello!") + ", \"rejected\": "
                + json("Human: hi\n\nAssistant: What.") + "}\n");
        PreferenceDocuments.Read r = read(p);
        assertEquals(new PreferenceGroup(
                List.of(Turn.user("What is a good name for a cat?"), Turn.assistant("How about Whiskers?"),
                        Turn.user("Something less common, please.")),
                List.of("How about Pistachio? It is unusual and friendly.", "How about Cat?"),
                List.of(new Pair(0, 1, 2))), r.groups().get(0));
        assertEquals(PreferenceGroup.comparison("hi", "Hello!", "What.", 0), r.groups().get(1));
    }

    @Test
    void rankedListsBecomeOneGroupOfAllPairsBetterFirst() throws Exception {
        Path p = write("{\"prompt\": \"q\", \"responses\": [\"best\", \"good\", \"meh\", \"worst\"]}\n"
                + "{\"messages\": [{\"role\": \"user\", \"content\": \"q2\"}], \"responses\": [\"x\", \"y\"]}\n");
        PreferenceDocuments.Read r = read(p);
        assertEquals(2, r.groups().size());
        PreferenceGroup g = r.groups().get(0);
        assertEquals(List.of(Turn.user("q")), g.prompt());
        assertEquals(List.of("best", "good", "meh", "worst"), g.responses());
        assertEquals(6, g.pairs().size());
        assertEquals(List.of(Pair.of(0, 1), Pair.of(0, 2), Pair.of(0, 3), Pair.of(1, 2), Pair.of(1, 3),
                Pair.of(2, 3)), g.pairs());
        for (Pair pair : g.pairs()) {
            assertTrue(pair.chosen() < pair.rejected(), "the better (earlier) response is the chosen one: " + pair);
        }
        assertEquals(List.of(Pair.of(0, 1)), r.groups().get(1).pairs());
        assertEquals(7, r.pairs());
    }

    @Test
    void identicalPairsAreSkippedAndCounted() throws Exception {
        String hh = "\n\nHuman: q\n\nAssistant: same";
        Path p = write("{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n"
                + "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"a\"}\n"
                + "{\"chosen\": " + json(hh) + ", \"rejected\": " + json(hh + "  ") + "}\n"
                + "{\"prompt\": \"p\", \"responses\": [\"x\", \"y\", \"x\"]}\n"
                + "{\"prompt\": \"p\", \"responses\": [\"z\", \"z\"]}\n");
        PreferenceDocuments.Read r = read(p);
        assertEquals(2, r.groups().size());
        assertEquals(List.of(Pair.of(0, 1), Pair.of(1, 2)), r.groups().get(1).pairs());
        assertEquals(4, r.skippedIdenticalPairs()); // comparison, HH, one ranked pair, the all-identical list
        assertEquals(3, r.skippedLines());

        Path only = write("{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"a\"}\n");
        String m = assertThrows(BadInputException.class, () -> read(only)).getMessage();
        assertTrue(m.contains("contains no preference pairs") && m.contains("1 identical"), m);
    }

    @Test
    void everyProblemNamesFileAndLine() throws Exception {
        String ok = "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n";

        assertTrue(error(ok + "{\"prompt\": \"p\", \"chosen\": \"a\"}\n", 2)
                .contains("missing string field \"rejected\""));
        assertTrue(error(ok + ok + "{\"prompt\": \"p\", \"rejected\": \"a\"}\n", 3)
                .contains("missing string field \"chosen\""));
        assertTrue(error("{\"prompt\": \"p\"}\n", 1).contains("missing \"chosen\" and \"rejected\""));
        assertTrue(error("{\"responses\": [\"a\", \"b\"]}\n", 1).contains("missing string field \"prompt\""));
        assertTrue(error("{\"prompt\": 3, \"chosen\": \"a\", \"rejected\": \"b\"}\n", 1)
                .contains("\"prompt\" must be a string, got a number"));
        assertTrue(error("{\"prompt\": \"p\", \"chosen\": [{\"role\": \"assistant\", \"content\": \"a\"}], "
                + "\"rejected\": \"b\"}\n", 1).contains("\"chosen\" must be a string, got an array"));

        // Empty responses.
        assertTrue(error(ok + "{\"prompt\": \"p\", \"chosen\": \" \", \"rejected\": \"b\"}\n", 2)
                .contains("\"chosen\" is empty"));
        assertTrue(error("{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"\"}\n", 1)
                .contains("\"rejected\" is empty"));
        assertTrue(error("{\"prompt\": \"p\", \"responses\": [\"a\", \"b\", \"\\n\"]}\n", 1)
                .contains("responses[2] is empty"));
        assertTrue(error("{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: a\", \"rejected\": "
                + "\"\\n\\nHuman: q\\n\\nAssistant:  \"}\n", 1).contains("reply of \"rejected\" is empty"));

        // Ranked lists.
        assertTrue(error("{\"prompt\": \"p\", \"responses\": [\"a\"]}\n", 1).contains("needs at least two"));
        assertTrue(error("{\"prompt\": \"p\", \"responses\": []}\n", 1).contains("needs at least two"));
        assertTrue(error("{\"prompt\": \"p\", \"responses\": \"a\"}\n", 1).contains("must be an array"));
        assertTrue(error("{\"prompt\": \"p\", \"responses\": [\"a\", 2]}\n", 1)
                .contains("responses[1] must be a string, got a number"));
        assertTrue(error("{\"prompt\": \"p\", \"responses\": [\"a\", \"b\"], \"chosen\": \"a\"}\n", 1)
                .contains("cannot also have \"chosen\""));
        assertTrue(error("{\"prompt\": \"p\", \"responses\": [\"a\", \"b\"], \"margin\": 1}\n", 1)
                .contains("cannot also have \"margin\""));

        // Margins.
        assertTrue(error("{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": -0.5}\n", 1)
                .contains("\"margin\" must be a finite number >= 0, got -0.5"));
        assertTrue(error("{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": 1e999}\n", 1)
                .contains("\"margin\" must be a finite number >= 0"));
        assertTrue(error("{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": \"1\"}\n", 1)
                .contains("\"margin\" must be a number >= 0, got a string"));
        assertTrue(error("{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": NaN}\n", 1)
                .contains("not valid JSON"));

        // Ambiguous or malformed context.
        assertTrue(error("{\"prompt\": \"p\", \"messages\": [{\"role\": \"user\", \"content\": \"q\"}], "
                + "\"chosen\": \"a\", \"rejected\": \"b\"}\n", 1).contains("not both"));
        assertTrue(error("{\"system\": \"s\", \"messages\": [{\"role\": \"user\", \"content\": \"q\"}], "
                + "\"chosen\": \"a\", \"rejected\": \"b\"}\n", 1).contains("put a system message first"));
        assertTrue(error("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", "
                + "\"content\": \"x\"}], \"chosen\": \"a\", \"rejected\": \"b\"}\n", 1)
                .contains("must end with a user message"));
        assertTrue(error("{\"messages\": [{\"role\": \"bot\", \"content\": \"q\"}], \"chosen\": \"a\", "
                + "\"rejected\": \"b\"}\n", 1).contains("unknown role \"bot\""));
        assertTrue(error("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"system\", "
                + "\"content\": \"s\"}, {\"role\": \"user\", \"content\": \"q\"}], \"chosen\": \"a\", "
                + "\"rejected\": \"b\"}\n", 1).contains("system message may only come first"));
        assertTrue(error("{\"messages\": [], \"chosen\": \"a\", \"rejected\": \"b\"}\n", 1)
                .contains("\"messages\" is empty"));

        // HH transcripts.
        assertTrue(error(ok + "{\"chosen\": \"Sure, here you go\", \"rejected\": \"No\"}\n", 2)
                .contains("share no prefix ending in"));
        assertTrue(error("{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: x\", \"rejected\": "
                + "\"\\n\\nHuman: b\\n\\nAssistant: x\"}\n", 1).contains("share no prefix ending in"));
        assertTrue(error("{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: x\\n\\nHuman: more\\n\\nAssistant: y\", "
                + "\"rejected\": \"\\n\\nHuman: q\\n\\nAssistant: z\\n\\nHuman: more\\n\\nAssistant: y\"}\n", 1)
                .contains("differ before their final Assistant reply"));
        assertTrue(error("{\"chosen\": \"Intro\\n\\nHuman: q\\n\\nAssistant: x\", \"rejected\": "
                + "\"Intro\\n\\nHuman: q\\n\\nAssistant: y\"}\n", 1).contains("must start with"));
        assertTrue(error("{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: x\\n\\nAssistant: y\", \"rejected\": "
                + "\"\\n\\nHuman: q\\n\\nAssistant: x\\n\\nAssistant: z\"}\n", 1).contains("must follow"));

        // Not JSON, not an object.
        assertTrue(error(ok + "{\"prompt\": \"p\", \"chosen\": \"a\"\n", 2).contains("not valid JSON"));
        assertTrue(error("[1, 2]\n", 1).contains("expected a JSON object"));
    }

    @Test
    void s3PathsGoThroughTheOpenerAndEmptyOrMissingSourcesNameTheField() throws Exception {
        byte[] body = "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n".getBytes(StandardCharsets.UTF_8);
        PreferenceDocuments.Read r = PreferenceDocuments.read(SourceSpec.of("s3://bucket/prefs.jsonl"), 0, uri -> {
            assertEquals("s3://bucket/prefs.jsonl", uri);
            return new ByteArrayInputStream(body);
        });
        assertEquals(List.of(PreferenceGroup.comparison("p", "a", "b", 0)), r.groups());
        String m = assertThrows(BadInputException.class,
                () -> PreferenceDocuments.read(SourceSpec.of(dir.resolve("nope.jsonl").toString()), 3, null))
                .getMessage();
        assertTrue(m.startsWith("data.sources[3].path: ") && m.contains("does not exist"), m);
        Path empty = write("\n");
        m = assertThrows(BadInputException.class, () -> read(empty)).getMessage();
        assertTrue(m.startsWith("data.sources[0]: ") && m.contains("contains no preference pairs"), m);
    }

    @Test
    void demoUrisRegenerateTheWorldsComparisonsAndRankings() {
        DemoWorld w = new DemoWorld(7);
        PreferenceDocuments.Read prefs = PreferenceDocuments.read(SourceSpec.of("demo:prefs?seed=7&count=30"), 0,
                null);
        assertEquals(30, prefs.groups().size());
        var c = w.comparisons(30, Split.TRAIN).get(5);
        assertEquals(PreferenceGroup.comparison(c.prompt(), c.chosen(), c.rejected(), 0), prefs.groups().get(5));

        PreferenceDocuments.Read ranked = PreferenceDocuments.read(
                SourceSpec.of("demo:ranked?seed=7&count=10&k=4&split=held_out"), 0, null);
        assertEquals(10, ranked.groups().size());
        assertEquals(60, ranked.pairs());
        var l = w.rankedLists(10, 4, Split.HELD_OUT).get(2);
        PreferenceGroup g = ranked.groups().get(2);
        assertEquals(List.of(Turn.user(l.prompt())), g.prompt());
        assertEquals(l.responses(), g.responses());
        for (Pair p : g.pairs()) {
            assertTrue(w.score(l.prompt(), g.responses().get(p.chosen()))
                    > w.score(l.prompt(), g.responses().get(p.rejected())), "chosen scores higher: " + p);
        }

        String m = assertThrows(BadInputException.class,
                () -> PreferenceDocuments.read(SourceSpec.of("demo:sft?seed=7"), 2, null)).getMessage();
        assertTrue(m.startsWith("data.sources[2].path: ") && m.contains("use demo:prefs or demo:ranked"), m);
    }
}
