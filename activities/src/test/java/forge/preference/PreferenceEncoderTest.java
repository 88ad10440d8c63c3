package forge.preference;

import forge.chat.ChatEncoder;
import forge.chat.Conversation;
import forge.chat.TruncationPolicy;
import forge.chat.Turn;
import forge.errors.BadInputException;
import forge.preference.PreferenceGroup.Pair;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.tokenizer.TokenizerConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PreferenceEncoderTest {
    // Char-level: specials are 0..6 (SYSTEM 3, USER 4, ASSISTANT 5, END 6), then 'a' = 7, 'b' = 8.
    static final Tokenizer TOK = Tokenizer.train(TokenizerConfig.charLevel(), List.of("ab"));
    static final int S = SpecialToken.SYSTEM.id();
    static final int U = SpecialToken.USER.id();
    static final int A = SpecialToken.ASSISTANT.id();
    static final int E = SpecialToken.END_OF_TURN.id();
    static final int a = 7;
    static final int b = 8;

    @Test
    void eachResponseIsTheSftLayoutOfPromptAndReply() {
        assertEquals(List.of(a, b), List.of(TOK.encode("a")[0], TOK.encode("b")[0]));
        PreferenceGroup g = new PreferenceGroup(List.of(Turn.system("a"), Turn.user("b")), List.of("ab", "b"),
                List.of(new Pair(0, 1, 0.5)));
        EncodedGroup e = new PreferenceEncoder(TOK, 64, TruncationPolicy.FAIL).encode(g);
        assertArrayEquals(new int[] {S, a, E, U, b, E, A, a, b, E}, e.sequence(0));
        assertArrayEquals(new int[] {S, a, E, U, b, E, A, b, E}, e.sequence(1));
        assertEquals(List.of(new Pair(0, 1, 0.5)), e.pairs());
        // Exactly what SFT trains on for the same conversation.
        assertArrayEquals(new ChatEncoder(TOK, 64, null).encode(new Conversation(List.of(Turn.system("a"),
                Turn.user("b"), Turn.assistant("ab")))).tokens(), e.sequence(0));
    }

    private static PreferenceGroup longPrompt() {
        // Prompt: <|user|> a a a a a a <|end|> <|assistant|> = 9 tokens; replies "b" (2 with <|end|>), "bbbb" (5).
        return PreferenceGroup.comparison("aaaaaa", "b", "bbbb", 0);
    }

    @Test
    void truncatePromptLeftKeepsEveryReplyWholeWithTheSameContext() {
        List<PreferenceGroup> in = List.of(PreferenceGroup.comparison("a", "b", "bb", 0), longPrompt());
        PreferenceEncoder.Encoded fits = new PreferenceEncoder(TOK, 14, null).encodeAll(in, "src");
        assertEquals(0, fits.truncatedGroups());
        assertEquals(new PreferenceEncoder(TOK, 14, null).encode(longPrompt()), fits.groups().get(1));

        PreferenceEncoder.Encoded cut = new PreferenceEncoder(TOK, 10, TruncationPolicy.TRUNCATE_PROMPT_LEFT)
                .encodeAll(in, "src");
        assertEquals(1, cut.truncatedGroups());
        assertEquals(0, cut.skippedPairs());
        assertEquals(0, cut.skippedGroups());
        EncodedGroup e = cut.groups().get(1);
        // The longest reply (5 tokens) leaves 5 prompt tokens; both replies get the same 5.
        assertArrayEquals(new int[] {a, a, a, E, A, b, b, b, b, E}, e.sequence(1));
        assertArrayEquals(new int[] {a, a, a, E, A, b, E}, e.sequence(0));
        assertEquals(2, cut.pairs());
    }

    @Test
    void responsesThatCannotFitAreDroppedWithTheirPairs() {
        // Prompt <|user|> a <|end|> <|assistant|> is 4 tokens; replies with <|end|>: "b" 2, "bbbbbb" 7, "bb" 3.
        PreferenceGroup ranked = PreferenceGroup.ranked(List.of(Turn.user("a")), List.of("b", "bbbbbb", "bb"));
        PreferenceGroup hopeless = PreferenceGroup.comparison("a", "bbbbbbb", "bbbbbbbb", 0);
        PreferenceEncoder.Encoded enc = new PreferenceEncoder(TOK, 8, null)
                .encodeAll(List.of(ranked, hopeless), "src");
        // "bbbbbb" + <|end|> is 7 tokens: with <|assistant|> and one context token it needs 9 > 8.
        assertEquals(1, enc.groups().size());
        assertEquals(1, enc.skippedGroups());
        assertEquals(2 + 1, enc.skippedPairs());
        EncodedGroup g = enc.groups().get(0);
        assertEquals(List.of(Pair.of(0, 1)), g.pairs()); // ("b", "bb"), renumbered
        assertArrayEquals(new int[] {U, a, E, A, b, E}, g.sequence(0));
        assertArrayEquals(new int[] {U, a, E, A, b, b, E}, g.sequence(1));
        assertEquals(0, enc.truncatedGroups());
    }

    @Test
    void skipPolicyDropsEveryOverlongResponseAndFailPolicyNamesIt() {
        List<PreferenceGroup> in = List.of(PreferenceGroup.comparison("a", "b", "bb", 0), longPrompt());
        PreferenceEncoder.Encoded skip = new PreferenceEncoder(TOK, 12, TruncationPolicy.SKIP).encodeAll(in, "src");
        // longPrompt: 9 + 2 = 11 fits, 9 + 5 = 14 does not -> its only pair goes.
        assertEquals(1, skip.groups().size());
        assertEquals(1, skip.skippedGroups());
        assertEquals(1, skip.skippedPairs());
        assertEquals(0, skip.truncatedGroups());

        String m = assertThrows(BadInputException.class,
                () -> new PreferenceEncoder(TOK, 12, TruncationPolicy.FAIL).encodeAll(in, "data.sources[0] (x)"))
                .getMessage();
        assertTrue(m.startsWith("data.sources[0] (x): group 2, response 2 has 14 tokens"), m);
        assertTrue(m.contains("block_size = 12"), m);
    }

    @Test
    void blockSizeIsValidated() {
        String m = assertThrows(BadInputException.class, () -> new PreferenceEncoder(TOK, 1, null)).getMessage();
        assertTrue(m.startsWith("model.block_size: "), m);
    }
}
