package forge.chat;

import forge.errors.BadInputException;
import forge.tokenizer.ChatTemplate;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.tokenizer.TokenizerConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChatEncoderTest {
    // Char-level: specials are 0..6 (SYSTEM 3, USER 4, ASSISTANT 5, END 6), then 'a' = 7, 'b' = 8.
    static final Tokenizer TOK = Tokenizer.train(TokenizerConfig.charLevel(), List.of("ab"));
    static final int S = SpecialToken.SYSTEM.id();
    static final int U = SpecialToken.USER.id();
    static final int A = SpecialToken.ASSISTANT.id();
    static final int E = SpecialToken.END_OF_TURN.id();
    static final int a = 7;
    static final int b = 8;

    static final Conversation MULTI = new Conversation(List.of(Turn.system("a"), Turn.user("b"),
            Turn.assistant("ab"), Turn.user("a"), Turn.assistant("b"), Turn.user("ignored")));

    @Test
    void onlyAssistantContentAndItsEndAreWeighted() {
        assertEquals(List.of(a, b), List.of(TOK.encode("a")[0], TOK.encode("b")[0]));
        EncodedExample e = new ChatEncoder(TOK, 64, TruncationPolicy.FAIL).encode(Conversation.of("a", "b"));
        assertArrayEquals(new int[] {U, a, E, A, b, E}, e.tokens());
        assertArrayEquals(new float[] {0, 0, 0, 0, 1, 1}, e.lossMask());
        // The layout is ChatTemplate's.
        assertArrayEquals(e.tokens(), concat(ChatTemplate.prompt(TOK, "a"), ChatTemplate.response(TOK, "b")));
        // Shifted views: predicting 'b' after <|assistant|> and <|end|> after 'b' are the only counted targets.
        assertArrayEquals(new int[] {U, a, E, A, b}, e.inputs());
        assertArrayEquals(new int[] {a, E, A, b, E}, e.targets());
        assertArrayEquals(new float[] {0, 0, 0, 1, 1}, e.weights());
        assertEquals(2, e.weightedTargets());
    }

    @Test
    void multiTurnWeightsEveryAssistantTurnAndDropsTrailingUserTurns() {
        EncodedExample e = new ChatEncoder(TOK, 64, TruncationPolicy.FAIL).encode(MULTI);
        assertArrayEquals(new int[] {S, a, E, U, b, E, A, a, b, E, U, a, E, A, b, E}, e.tokens());
        assertArrayEquals(new float[] {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1}, e.lossMask());
    }

    @Test
    void truncatePromptLeftKeepsTheEndAndCountsTruncatedAndSkipped() {
        List<Conversation> in = List.of(Conversation.of("a", "b"), MULTI);
        ChatEncoder.Encoded fits = new ChatEncoder(TOK, 15, TruncationPolicy.TRUNCATE_PROMPT_LEFT).encodeAll(in, "src");
        assertEquals(new ChatEncoder.Encoded(List.of(new ChatEncoder(TOK, 15, null).encode(in.get(0)),
                new ChatEncoder(TOK, 15, null).encode(MULTI)), 0, 0), fits);

        ChatEncoder.Encoded cut = new ChatEncoder(TOK, 10, TruncationPolicy.TRUNCATE_PROMPT_LEFT).encodeAll(in, "src");
        assertEquals(1, cut.truncated());
        assertEquals(0, cut.skipped());
        EncodedExample e = cut.examples().get(1);
        assertArrayEquals(new int[] {E, A, a, b, E, U, a, E, A, b, E}, e.tokens());
        assertArrayEquals(new float[] {0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1}, e.lossMask());

        // The final turn "<|assistant|> b <|end|>" is 3 tokens: it fits with 1 token of context in block_size 3 ...
        ChatEncoder.Encoded tight = new ChatEncoder(TOK, 3, null).encodeAll(in, "src");
        assertEquals(2, tight.truncated());
        assertArrayEquals(new int[] {E, A, b, E}, tight.examples().get(0).tokens());
        assertArrayEquals(new float[] {0, 0, 1, 1}, tight.examples().get(0).lossMask());
        // ... and is skipped when it does not.
        ChatEncoder.Encoded skip = new ChatEncoder(TOK, 2, null).encodeAll(in, "src");
        assertEquals(new ChatEncoder.Encoded(List.of(), 0, 2), skip);
        assertEquals(TruncationPolicy.TRUNCATE_PROMPT_LEFT, new ChatEncoder(TOK, 2, null).policy());
    }

    @Test
    void skipPolicyDropsEveryOverlongExample() {
        List<Conversation> in = List.of(Conversation.of("a", "b"), MULTI, Conversation.of("ab", "b"));
        ChatEncoder.Encoded e = new ChatEncoder(TOK, 10, TruncationPolicy.SKIP).encodeAll(in, "src");
        assertEquals(1, e.skipped());
        assertEquals(0, e.truncated());
        assertEquals(List.of(new ChatEncoder(TOK, 10, null).encode(in.get(0)),
                new ChatEncoder(TOK, 10, null).encode(in.get(2))), e.examples());
    }

    @Test
    void failPolicyNamesTheSourceAndExample() {
        List<Conversation> in = List.of(Conversation.of("a", "b"), MULTI);
        ChatEncoder fail = new ChatEncoder(TOK, 10, TruncationPolicy.FAIL);
        String m = assertThrows(BadInputException.class, () -> fail.encodeAll(in, "data.sources[0] (x.jsonl)"))
                .getMessage();
        assertTrue(m.startsWith("data.sources[0] (x.jsonl): example 2 has 16 tokens, more than block_size + 1 = 11"),
                m);
        assertEquals(2, new ChatEncoder(TOK, 15, TruncationPolicy.FAIL).encodeAll(in, "s").examples().size());
    }

    @Test
    void policyParsing() {
        assertEquals(TruncationPolicy.TRUNCATE_PROMPT_LEFT, TruncationPolicy.parse(null, "f"));
        assertEquals(TruncationPolicy.TRUNCATE_PROMPT_LEFT, TruncationPolicy.parse("truncate-prompt-left", "f"));
        assertEquals(TruncationPolicy.FAIL, TruncationPolicy.parse("fail", "f"));
        assertEquals(TruncationPolicy.SKIP, TruncationPolicy.parse("SKIP", "f"));
        String m = assertThrows(BadInputException.class, () -> TruncationPolicy.parse("right", "sft.truncation"))
                .getMessage();
        assertTrue(m.startsWith("sft.truncation: must be truncate_prompt_left, skip or fail"), m);
    }

    @Test
    void generationPromptsEndWithTheAssistantMarkerAndRepliesStopAtEnd() {
        assertArrayEquals(ChatTemplate.prompt(TOK, "ab"), ChatEncoder.prompt(TOK, "ab", 100));
        assertArrayEquals(new int[] {b, E, A}, ChatEncoder.prompt(TOK, "ab", 3));
        assertArrayEquals(new int[] {S, a, E, U, b, E, A},
                ChatEncoder.prompt(TOK, List.of(Turn.system("a"), Turn.user("b")), 100));
        int[] generated = {U, a, E, A, b, a, E, b, b};
        assertEquals("ba", ChatEncoder.reply(TOK, generated, 4));
        assertEquals("bab", ChatEncoder.reply(TOK, new int[] {U, a, E, A, b, a, b}, 4));
        assertEquals("", ChatEncoder.reply(TOK, new int[] {U, a, E, A}, 4));
    }

    static int[] concat(int[] x, int[] y) {
        int[] out = java.util.Arrays.copyOf(x, x.length + y.length);
        System.arraycopy(y, 0, out, x.length, y.length);
        return out;
    }
}
