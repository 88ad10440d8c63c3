package forge.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.chat.ChatEncoder;
import forge.checkpoint.CheckpointFile;
import forge.preference.PreferenceBatch;
import forge.tokenizer.HfTokenizerConfig;
import forge.tokenizer.PretrainedTokenizer;
import forge.tokenizer.SpecialToken;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Special ids as transformers resolves them, for checkpoints whose eos is not the chat template's end of turn
 * (Qwen2.5 base: eos {@code <|endoftext|>}, turns closed by {@code <|im_end|>}) or that have no pad token.
 */
class HfSpecialTokensTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static PretrainedTokenizer tokenizer(String tokenizerConfig) throws Exception {
        var dir = HfFixtures.dir("qwen2");
        return PretrainedTokenizer.read(Files.readString(dir.resolve("tokenizer.json")),
                HfTokenizerConfig.parse(tokenizerConfig, Files.readString(dir.resolve("chat_template.jinja"))));
    }

    @Test
    void aReplyEndsWithTheTemplatesEndOfTurnAndTheExportStopsThereAndAtEos() throws Exception {
        // As Qwen2.5-0.5B (base) ships it: eos and pad are <|endoftext|>, the ChatML template closes turns otherwise.
        PretrainedTokenizer tok = tokenizer("{\"eos_token\": \"<|endoftext|>\", \"pad_token\": \"<|endoftext|>\"}");
        int endoftext = tok.tokenId("<|endoftext|>");
        int imEnd = tok.tokenId("<|im_end|>");
        assertEquals(endoftext, tok.id(SpecialToken.END_OF_TURN), "the tokenizer's eos");
        assertEquals(imEnd, ChatEncoder.endOfTurn(tok), "the template's end of turn");
        int[] prompt = ChatEncoder.prompt(tok, "hi", 100);
        int[] generated = java.util.stream.IntStream.concat(java.util.stream.IntStream.of(prompt),
                java.util.stream.IntStream.concat(java.util.stream.IntStream.of(tok.encode("ho")),
                        java.util.stream.IntStream.of(imEnd, 7, 8))).toArray();
        assertEquals("ho", ChatEncoder.reply(tok, generated, prompt.length), "the reply stops at <|im_end|>");

        List<CheckpointFile> files = HfExport.complete(List.of(new CheckpointFile("config.json",
                "{\"model_type\": \"qwen2\"}".getBytes(StandardCharsets.UTF_8))), tok, 128, forge.model.Precision.FP32);
        JsonNode generation = JSON.readTree(file(files, "generation_config.json"));
        assertEquals(JSON.readTree("[" + imEnd + ", " + endoftext + "]"), generation.get("eos_token_id"));
        assertEquals(endoftext, generation.get("pad_token_id").asInt());
        assertEquals(generation.get("eos_token_id"), JSON.readTree(file(files, "config.json")).get("eos_token_id"));
    }

    @Test
    void withoutAPadTokenPadIsEosAndTheScoreIsReadBeforeTheClosingEos() throws Exception {
        PretrainedTokenizer tok = tokenizer("{\"eos_token\": \"<|im_end|>\"}");
        int imEnd = tok.tokenId("<|im_end|>");
        assertEquals(imEnd, tok.id(SpecialToken.PAD), "pad falls back to eos, as in transformers");
        List<CheckpointFile> files = HfExport.complete(List.of(new CheckpointFile("config.json",
                "{\"model_type\": \"qwen2\"}".getBytes(StandardCharsets.UTF_8))), tok, 128, forge.model.Precision.FP32);
        assertEquals(imEnd, JSON.readTree(file(files, "config.json")).get("pad_token_id").asInt());

        // Rows "5 6 7 <eos>" and "5 9 <eos>" padded with eos: transformers reads the last non-pad token, 7 and 9.
        long e = imEnd;
        PreferenceBatch b = new PreferenceBatch(2, 5, new long[] {5, 6, 7, e, e, 5, 9, e, e, e},
                new int[] {3, 2}, new int[] {1, 1}, new int[] {0}, new int[] {1}, new float[] {0}, new int[] {0}, 1);
        assertArrayEquals(new int[] {2, 1}, b.scoreIndex(imEnd));
        assertArrayEquals(new int[] {3, 2}, b.scoreIndex(0), "with a pad of its own the closing eos is read");
    }

    @Test
    void idsTheTokenizerConfigLeavesOutComeFromGenerationConfigThenConfig() throws Exception {
        var dir = HfFixtures.dir("qwen2");
        java.util.Map<String, byte[]> files = new java.util.HashMap<>();
        for (String f : List.of("tokenizer.json", "chat_template.jinja")) {
            files.put(f, Files.readAllBytes(dir.resolve(f)));
        }
        files.put("tokenizer_config.json", "{}".getBytes(StandardCharsets.UTF_8));
        files.put("generation_config.json", "{\"eos_token_id\": [2, 0]}".getBytes(StandardCharsets.UTF_8));
        files.put("config.json", "{\"bos_token_id\": 0, \"eos_token_id\": 1}".getBytes(StandardCharsets.UTF_8));
        PretrainedTokenizer tok = (PretrainedTokenizer) HfCheckpoint.tokenizer(HfFiles.of(files, "mem"));
        assertEquals("<|im_end|>", tok.config().eosToken(), "generation_config's first eos wins over config.json's");
        assertEquals("<|endoftext|>", tok.config().bosToken());
        assertEquals(tok.tokenId("<|im_end|>"), tok.id(SpecialToken.PAD), "no pad anywhere: eos");
    }

    private static byte[] file(List<CheckpointFile> files, String name) {
        return files.stream().filter(f -> f.name().equals(name)).findFirst().orElseThrow().content();
    }
}
