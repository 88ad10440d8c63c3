package forge.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoFilesTest {
    @Test
    void writesEveryStagesDataAsJsonl(@TempDir Path dir) throws Exception {
        DemoWorld world = new DemoWorld(5);
        world.writeJsonl(dir, new DemoSizes(30, 20, 10, 5, 3, 8));
        ObjectMapper json = new ObjectMapper();

        List<String> pretrain = Files.readAllLines(dir.resolve("pretrain.jsonl"));
        assertEquals(30, pretrain.size());
        assertEquals(world.pretrainDocuments(30).get(4), json.readTree(pretrain.get(4)).get("text").asText());

        JsonNode sft = json.readTree(Files.readAllLines(dir.resolve("sft.jsonl")).get(0));
        assertTrue(world.correct(sft.get("prompt").asText(), sft.get("response").asText()));

        JsonNode pref = json.readTree(Files.readAllLines(dir.resolve("prefs_heldout.jsonl")).get(0));
        assertEquals(Split.HELD_OUT, world.splitOf(pref.get("prompt").asText()));
        assertTrue(world.score(pref.get("prompt").asText(), pref.get("chosen").asText())
                > world.score(pref.get("prompt").asText(), pref.get("rejected").asText()));

        JsonNode ranked = json.readTree(Files.readAllLines(dir.resolve("ranked.jsonl")).get(2));
        assertEquals(3, ranked.get("responses").size());
        assertEquals(8, Files.readAllLines(dir.resolve("prompts.jsonl")).size());
        assertEquals(9, Files.list(dir).count()); // pretrain + four kinds x two splits
    }
}
