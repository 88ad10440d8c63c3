package forge.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;

class Gpt2PreTokenizerTest {
    // GPT-2's pattern with Unicode \s, the reference our hand-written scanner must agree with.
    private static final Pattern GPT2 = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    private static List<String> scanner(String text) {
        List<String> out = new ArrayList<>();
        Gpt2PreTokenizer.split(text, (s, e) -> out.add(text.substring(s, e)));
        return out;
    }

    private static List<String> regex(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = GPT2.matcher(text);
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    @Test
    void splitsLikeGpt2() {
        assertEquals(List.of("Hello", ",", " world", "'s", " ", " fine", "!!", "\n"), scanner("Hello, world's  fine!!\n"));
        assertEquals(List.of("I", "'m", " 42", " years", "  ", "\t", "x"), scanner("I'm 42 years  \tx"));
    }

    @Test
    void agreesWithTheReferenceRegexOnAwkwardAndRandomText() {
        for (String s : TestTexts.AWKWARD) {
            assertEquals(regex(s), scanner(s), s);
        }
        Random r = new Random(1);
        for (int i = 0; i < 3000; i++) {
            String s = TestTexts.random(r, r.nextInt(40));
            assertEquals(regex(s), scanner(s), s);
        }
    }
}
