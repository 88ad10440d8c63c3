package forge.rollout;

import forge.chat.Turn;
import forge.data.SourceSpec;
import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PromptDocumentsTest {
    @TempDir
    Path dir;

    List<Prompt> read(String... lines) throws Exception {
        Path f = dir.resolve("p.jsonl");
        Files.write(f, List.of(lines));
        return PromptDocuments.read(SourceSpec.at(0, f.toString(), 1.0, "auto", "text"), "data.sources[0]", null);
    }

    @Test
    void readsPromptsAndChatsEndingWithTheUser() throws Exception {
        List<Prompt> p = read("{\"prompt\": \"What is 2 + 2?\"}", "",
                "{\"prompt\": \"Hi\", \"system\": \"Be brief.\"}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"},"
                        + " {\"role\": \"user\", \"content\": \"c\"}]}");
        assertEquals(3, p.size());
        assertEquals("What is 2 + 2?", p.get(0).lastUserTurn());
        assertEquals(Turn.SYSTEM, p.get(1).context().get(0).role());
        assertEquals("c", p.get(2).lastUserTurn());
        assertEquals(3, p.get(2).context().size());
    }

    @Test
    void badLinesAreNamedByFileAndLine() {
        for (String[] bad : new String[][] {
                {"{\"text\": \"no prompt\"}", "missing string field \"prompt\""},
                {"{\"prompt\": 3}", "\"prompt\" must be a string"},
                {"{\"prompt\": \"  \"}", "\"prompt\" is empty"},
                {"[1]", "expected a JSON object"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}",
                        "the last message must be the user's"}}) {
            BadInputException e = assertThrows(BadInputException.class, () -> read("{\"prompt\": \"ok\"}", bad[0]));
            assertTrue(e.getMessage().contains("p.jsonl:2") && e.getMessage().contains(bad[1]), e.getMessage());
        }
    }

    @Test
    void demoPromptsComeFromTheWorld() {
        List<Prompt> p = PromptDocuments.read(SourceSpec.at(0, "demo:prompts?seed=7&count=5", 1.0, "auto", "text"),
                "data.sources[0]", null);
        assertEquals(5, p.size());
        BadInputException e = assertThrows(BadInputException.class, () -> PromptDocuments.read(
                SourceSpec.at(0, "demo:sft?seed=7&count=5", 1.0, "auto", "text"), "data.sources[0]", null));
        assertTrue(e.getMessage().contains("use demo:prompts"), e.getMessage());
    }
}
