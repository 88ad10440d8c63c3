package forge.tokenizer;

import forge.errors.BadInputException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerTest {
    private static List<String> corpus;
    private static Tokenizer bpe;
    private static Tokenizer chars;

    @BeforeAll
    static void train() {
        corpus = TestTexts.corpus(1500, 11);
        bpe = Tokenizer.train(TokenizerConfig.bpe(700), corpus);
        chars = Tokenizer.train(TokenizerConfig.charLevel(), corpus);
    }

    @Test
    void specialTokensHaveFixedIdsInEveryTokenizer() {
        for (Tokenizer t : List.of(bpe, chars)) {
            for (SpecialToken s : SpecialToken.values()) {
                assertEquals(s.ordinal(), t.id(s));
                assertEquals(s.text(), t.decode(new int[] {s.ordinal()}));
            }
        }
        assertEquals(0, SpecialToken.END_OF_TEXT.id());
        assertEquals(6, SpecialToken.END_OF_TURN.id());
    }

    @Test
    void specialTokenTextInUserDataIsNotASpecialId() {
        String text = "before <|endoftext|> <|user|> after";
        for (Tokenizer t : List.of(bpe, Tokenizer.train(TokenizerConfig.charLevel(), List.of(text)))) {
            int[] ids = t.encode(text);
            assertTrue(IntStream.of(ids).allMatch(id -> id >= SpecialToken.count()), t.type());
            assertEquals(text, t.decode(ids));
        }
    }

    @Test
    void decodeCanSkipSpecials() {
        for (Tokenizer t : List.of(bpe, chars)) {
            int[] hello = t.encode("the cats");
            int[] framed = IntStream.concat(IntStream.of(t.id(SpecialToken.USER)),
                    IntStream.concat(IntStream.of(hello), IntStream.of(t.id(SpecialToken.END_OF_TURN)))).toArray();
            assertEquals("<|user|>the cats<|end|>", t.decode(framed));
            assertEquals("the cats", t.decode(framed, true));
        }
    }

    @Test
    void byteLevelRoundTripsAnyString() {
        for (String s : TestTexts.AWKWARD) {
            assertEquals(s, bpe.decode(bpe.encode(s)), s);
        }
        Random r = new Random(5);
        for (int i = 0; i < 500; i++) {
            String s = TestTexts.random(r, r.nextInt(80));
            assertEquals(s, bpe.decode(bpe.encode(s)), s);
        }
    }

    @Test
    void byteLevelCompressesTextItWasTrainedOn() {
        String doc = corpus.get(0);
        int tokens = bpe.encode(doc).length;
        assertTrue(tokens * 2 < doc.length(), tokens + " tokens for " + doc.length() + " chars");
    }

    @Test
    void charLevelVocabularyIsSpecialsThenSortedCharacters() {
        Tokenizer t = Tokenizer.train(TokenizerConfig.charLevel(), List.of("banana", "cab!"));
        assertEquals(SpecialToken.count() + 5, t.vocabSize()); // ! a b c n
        assertArrayEquals(new int[] {9, 7, 11, 8}, t.encode("b!na"));
        assertEquals("!abcn", t.decode(new int[] {7, 8, 9, 10, 11}));
    }

    @Test
    void charLevelMapsUnseenCharactersToUnknown() {
        int[] ids = chars.encode("the 🙂 cat");
        assertEquals(SpecialToken.UNKNOWN.id(), ids[4]);
        assertEquals(9, ids.length); // the emoji is one code point, so one unknown token
        for (Tokenizer t : List.of(chars)) {
            String seen = corpus.get(3);
            assertEquals(seen, t.decode(t.encode(seen)));
        }
    }

    @Test
    void charLevelVocabSizeCapKeepsTheMostFrequentCharacters() {
        Tokenizer t = Tokenizer.train(new TokenizerConfig("char", SpecialToken.count() + 2, 1000),
                List.of("aaaa bbb cc d"));
        assertEquals(SpecialToken.count() + 2, t.vocabSize());
        assertEquals("a" + SpecialToken.UNKNOWN.text() + SpecialToken.UNKNOWN.text(), t.decode(t.encode("abc")));
    }

    @Test
    void byteLevelHonoursTheVocabularySize() {
        for (int size : new int[] {264, 300, 450}) {
            Tokenizer t = Tokenizer.train(TokenizerConfig.bpe(size), corpus);
            assertEquals(size, t.vocabSize());
            assertTrue(IntStream.of(t.encode(corpus.get(7))).allMatch(id -> id < size));
        }
    }

    @Test
    void byteLevelStopsEarlyWhenTheCorpusHasNoMorePairsWorthMerging() {
        Tokenizer t = Tokenizer.train(TokenizerConfig.bpe(5000), List.of("ab ab ab cd"));
        assertTrue(t.vocabSize() < 5000 && t.vocabSize() > TokenizerConfig.MIN_BPE_VOCAB - 1, "" + t.vocabSize());
        assertEquals(1, t.encode("ab").length);
    }

    @Test
    void trainingIsDeterministic() {
        Tokenizer again = Tokenizer.train(TokenizerConfig.bpe(700), TestTexts.corpus(1500, 11));
        assertEquals(bpe.toHuggingFaceJson(), again.toHuggingFaceJson());
        Tokenizer other = Tokenizer.train(TokenizerConfig.bpe(700), TestTexts.corpus(1500, 12));
        assertNotEquals(bpe.toHuggingFaceJson(), other.toHuggingFaceJson());
    }

    @Test
    void trainCharsLimitsTheSample() {
        Tokenizer t = Tokenizer.train(new TokenizerConfig("char", 0, 3), List.of("abcdef", "xyz"));
        assertEquals(SpecialToken.count() + 3, t.vocabSize());
        assertEquals(SpecialToken.UNKNOWN.id(), t.encode("x")[0]);
    }

    @Test
    void huggingFaceJsonRoundTripEncodesIdentically() {
        for (Tokenizer t : List.of(bpe, chars)) {
            Tokenizer loaded = Tokenizer.fromHuggingFaceJson(t.toHuggingFaceJson());
            assertEquals(t.type(), loaded.type());
            assertEquals(t.vocabSize(), loaded.vocabSize());
            assertEquals(t.toHuggingFaceJson(), loaded.toHuggingFaceJson());
            for (String s : TestTexts.AWKWARD) {
                assertArrayEquals(t.encode(s), loaded.encode(s), s);
            }
            for (String s : corpus.subList(0, 50)) {
                assertArrayEquals(t.encode(s), loaded.encode(s));
            }
        }
    }

    @Test
    void huggingFaceJsonHasTheExpectedShape() {
        String json = bpe.toHuggingFaceJson();
        assertTrue(json.contains("\"version\" : \"1.0\""));
        assertTrue(json.contains("\"type\" : \"ByteLevel\""));
        assertTrue(json.contains("\"use_regex\" : true"));
        assertTrue(json.contains("\"<|endoftext|>\" : 0"));
        assertTrue(json.contains("\"special\" : true"));
        assertTrue(json.contains("\"Ġ\" : " + (SpecialToken.count() + ' ')));
    }

    @Test
    void malformedHuggingFaceJsonIsABadInputWithAReason() {
        assertMessage("tokenizer.json: not valid JSON", "{\"model\": ");
        assertMessage("tokenizer.json model: missing", "{}");
        assertMessage("tokenizer.json model.type: only BPE", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}");
        assertMessage("tokenizer.json model.vocab: special token <|endoftext|> must have id 0",
                "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}");
        String ok = chars.toHuggingFaceJson();
        assertMessage("tokenizer.json model.vocab: ids must be", ok.replace("\"<|pad|>\" : 1", "\"<|pad|>\" : 100000"));
        String bpeJson = bpe.toHuggingFaceJson();
        assertMessage("tokenizer.json model.merges[0]", bpeJson.replaceFirst("\"merges\" : \\[ \"", "\"merges\" : [ \"zz"));
        assertMessage("tokenizer.json pre_tokenizer.type: only ByteLevel",
                bpeJson.replaceFirst("\"pre_tokenizer\" : \\{\\s*\"type\" : \"ByteLevel\"",
                        "\"pre_tokenizer\" : { \"type\" : \"Whitespace\""));
    }

    @Test
    void configIsValidated() {
        assertMessage("tokenizer.type: must be \"char\" or \"bpe\"", () -> new TokenizerConfig("wordpiece", 0, 10));
        assertMessage("tokenizer.vocab_size: bpe needs at least 264", () -> TokenizerConfig.bpe(263));
        assertMessage("tokenizer.vocab_size: char needs 0", () -> new TokenizerConfig("char", 5, 10));
        assertMessage("tokenizer.train_chars: must be in", () -> new TokenizerConfig("char", 0, -1));
        assertEquals(TokenizerConfig.DEFAULT_TRAIN_CHARS, new TokenizerConfig("bpe", 300, 0).trainChars());
        assertEquals("char", new TokenizerConfig(null, 0, 10).type());
        assertMessage("tokenizer: the training corpus contains no text",
                () -> Tokenizer.train(TokenizerConfig.charLevel(), List.of("", "")));
    }

    private static void assertMessage(String prefix, String json) {
        assertMessage(prefix, () -> Tokenizer.fromHuggingFaceJson(json));
    }

    private static void assertMessage(String prefix, Runnable r) {
        BadInputException e = assertThrows(BadInputException.class, r::run);
        assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
        assertFalse(e.getMessage().isBlank());
    }
}
