package forge.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SentencePiece-style BPE as Llama 2 and Mistral ship it in tokenizer.json (the byte-level kind is covered by the
 * transformers-written fixtures in HfCheckpointTest): Prepend/Replace "▁" normalizer, no pre-tokenizer, byte
 * fallback for characters outside the vocabulary, a TemplateProcessing post-processor adding {@code <s>}, and the
 * Replace/ByteFallback/Fuse/Strip decoder.
 */
class PretrainedTokenizerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static String llama2Style(String modelType) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode added = root.putArray("added_tokens");
        String[] specials = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < specials.length; i++) {
            added.addObject().put("id", i).put("content", specials[i]).put("special", true);
        }
        ObjectNode norm = root.putObject("normalizer").put("type", "Sequence");
        norm.putArray("normalizers").add(JSON.createObjectNode().put("type", "Prepend").put("prepend", "\u2581"))
                .add(JSON.createObjectNode().put("type", "Replace").put("content", "\u2581")
                        .set("pattern", JSON.createObjectNode().put("String", " ")));
        root.putNull("pre_tokenizer");
        ObjectNode post = root.putObject("post_processor").put("type", "TemplateProcessing");
        post.putArray("single").add(JSON.createObjectNode().set("SpecialToken",
                JSON.createObjectNode().put("id", "<s>").put("type_id", 0)))
                .add(JSON.createObjectNode().set("Sequence", JSON.createObjectNode().put("id", "A").put("type_id", 0)));
        ObjectNode dec = root.putObject("decoder").put("type", "Sequence");
        dec.putArray("decoders")
                .add(JSON.createObjectNode().put("type", "Replace").put("content", " ")
                        .set("pattern", JSON.createObjectNode().put("String", "\u2581")))
                .add(JSON.createObjectNode().put("type", "ByteFallback"))
                .add(JSON.createObjectNode().put("type", "Fuse"))
                .add(JSON.createObjectNode().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0));
        ObjectNode model = root.putObject("model").put("type", modelType).put("byte_fallback", true)
                .put("unk_token", "<unk>");
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < specials.length; i++) {
            vocab.put(specials[i], i);
        }
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), 3 + b);
        }
        String[] pieces = {"\u2581", "h", "e", "l", "o", "\u2581h", "ll", "\u2581he", "\u2581hell", "\u2581hello"};
        for (int i = 0; i < pieces.length; i++) {
            vocab.put(pieces[i], 259 + i);
        }
        model.putArray("merges").add("\u2581 h").add("l l").add("\u2581h e").add("\u2581he ll").add("\u2581hell o");
        return root.toString();
    }

    @Test
    void sentencePieceStyleBpeWithByteFallback() {
        PretrainedTokenizer t = PretrainedTokenizer.read(llama2Style("BPE"),
                HfTokenizerConfig.parse("{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}", null));
        // "▁hello▁hé": merged to ▁hello, ▁h, and é (not in the vocabulary) as its two UTF-8 bytes
        int[] ids = t.encode("hello hé");
        assertArrayEquals(new int[] {268, 264, 3 + 0xC3, 3 + 0xA9}, ids);
        assertArrayEquals(new int[] {1, 268, 264, 3 + 0xC3, 3 + 0xA9}, t.encodeWithPostProcessor("hello hé"));
        assertEquals("hello hé", t.decode(ids, true));
        assertEquals(2, t.id(SpecialToken.END_OF_TEXT), "eos from tokenizer_config.json");
        assertArrayEquals(new int[] {1, 268, 2}, t.encodeWithSpecials("<s>hello</s>", null), "template text");
        assertTrue(t.encode("<s>").length > 1, "user text never produces a special token");
    }

    @Test
    void anotherModelTypeFailsNamingTheField() {
        BadInputException e = assertThrows(BadInputException.class,
                () -> PretrainedTokenizer.read(llama2Style("Unigram"), HfTokenizerConfig.empty()));
        assertTrue(e.getMessage().startsWith("tokenizer.json model.type"), e.getMessage());
    }
}
