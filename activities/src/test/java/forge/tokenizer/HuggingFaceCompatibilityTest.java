package forge.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Our tokenizer.json must load in the real Hugging Face tokenizers library and give the ids we give. */
class HuggingFaceCompatibilityTest {
    private static List<String> corpus;

    @BeforeAll
    static void corpus() {
        corpus = TestTexts.corpus(800, 3);
    }

    private static HuggingFaceTokenizer load(Tokenizer ours) throws Exception {
        byte[] json = ours.toHuggingFaceJson().getBytes(StandardCharsets.UTF_8);
        return HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json), Map.of(
                "addSpecialTokens", "false", "truncation", "false", "padding", "false",
                "modelMaxLength", "1000000"));
    }

    /** Hugging Face turns special-token text into special ids; ours deliberately does not, so leave it out here. */
    private static List<String> probes() {
        List<String> out = new ArrayList<>();
        for (String s : TestTexts.AWKWARD) {
            if (!s.contains("<|")) {
                out.add(s);
            }
        }
        out.addAll(corpus.subList(0, 20));
        Random r = new Random(9);
        for (int i = 0; i < 200; i++) {
            out.add(TestTexts.random(r, 1 + r.nextInt(60)));
        }
        return out;
    }

    private static void assertSameIds(Tokenizer ours, HuggingFaceTokenizer theirs) {
        for (String s : probes()) {
            long[] expected = Arrays.stream(ours.encode(s)).asLongStream().toArray();
            assertArrayEquals(expected, theirs.encode(s, false, false).getIds(), () -> "ids differ for: " + s);
        }
    }

    @Test
    void bytePairEncodingMatches() throws Exception {
        Tokenizer ours = Tokenizer.train(TokenizerConfig.bpe(600), corpus);
        assertEquals(600, ours.vocabSize());
        try (HuggingFaceTokenizer theirs = load(ours)) {
            assertSameIds(ours, theirs);
            int[] ids = ours.encode("seven cats count apples 🙂");
            long[] asLong = Arrays.stream(ids).asLongStream().toArray();
            assertEquals(ours.decode(ids), theirs.decode(asLong, false));
        }
    }

    @Test
    void charLevelMatches() throws Exception {
        Tokenizer ours = Tokenizer.train(TokenizerConfig.charLevel(), corpus);
        try (HuggingFaceTokenizer theirs = load(ours)) {
            assertSameIds(ours, theirs);
            int[] ids = ours.encode("the model learns");
            long[] asLong = Arrays.stream(ids).asLongStream().toArray();
            assertEquals("the model learns", theirs.decode(asLong, false));
        }
    }

    @Test
    void specialIdsAreTheLibrarysSpecialTokens() throws Exception {
        Tokenizer ours = Tokenizer.train(TokenizerConfig.bpe(400), corpus);
        try (HuggingFaceTokenizer theirs = load(ours)) {
            for (SpecialToken t : SpecialToken.values()) {
                assertArrayEquals(new long[] {t.id()}, theirs.encode(t.text(), false, false).getIds(), t.text());
            }
            long[] withSpecials = {SpecialToken.USER.id(), ours.encode("a")[0], SpecialToken.END_OF_TURN.id()};
            assertEquals("a", theirs.decode(withSpecials, true));
        }
    }
}
