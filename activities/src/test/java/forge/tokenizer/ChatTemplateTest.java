package forge.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class ChatTemplateTest {
    @Test
    void promptAndResponseFrameTheTurnsWithSpecialIds() {
        Tokenizer t = Tokenizer.train(TokenizerConfig.charLevel(), List.of("What is 7 plus 5? 12."));
        int[] prompt = ChatTemplate.prompt(t, "What is 7 plus 5?");
        int[] response = ChatTemplate.response(t, "12.");
        assertEquals(SpecialToken.USER.id(), prompt[0]);
        assertArrayEquals(new int[] {SpecialToken.END_OF_TURN.id(), SpecialToken.ASSISTANT.id()},
                new int[] {prompt[prompt.length - 2], prompt[prompt.length - 1]});
        assertEquals(SpecialToken.END_OF_TURN.id(), response[response.length - 1]);
        int[] whole = IntStream.concat(IntStream.of(prompt), IntStream.of(response)).toArray();
        assertEquals(ChatTemplate.text("What is 7 plus 5?", "12."), t.decode(whole));
        assertEquals("What is 7 plus 5?12.", t.decode(whole, true));
    }
}
