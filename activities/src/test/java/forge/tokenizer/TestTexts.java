package forge.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Corpora and awkward strings shared by the tokenizer tests. */
final class TestTexts {
    private TestTexts() {
    }

    static final List<String> AWKWARD = List.of(
            "",
            "Hello, world!",
            "  leading and trailing spaces  ",
            "tabs\tand\nnew\r\nlines\n\n\n",
            "don't won't they're I've we'll he'd I'm it's 'S 'LL",
            "numbers 12345 and 3.14159 and ½ ² Ⅻ",
            "emoji 🙂🚀👩‍👩‍👧 and flags 🇩🇪",
            "日本語のテキスト、中文文本，한국어 텍스트",
            "Ünïcödé àccénts – “quotes” — ellipsis…",
            "non\u00a0breaking\u2003em\u3000ideographic spaces",
            "mixed😀letters123numbers!!!??",
            "   ",
            "a",
            "<|endoftext|> is only text here <|user|>");

    /** Pseudo-English with a Zipf-ish vocabulary: enough repeated structure for BPE to find merges. */
    static List<String> corpus(int docs, long seed) {
        Random r = new Random(seed);
        String[] words = {"the", "a", "model", "learns", "tokens", "from", "text", "and", "then", "it", "writes",
            "stories", "about", "seven", "cats", "who", "count", "apples", "in", "gardens", "while", "rain",
            "falls", "quietly", "on", "rooftops", "of", "old", "towns", "near", "rivers", "numbers", "like",
            "twelve", "or", "forty", "two", "appear", "sometimes", "café", "naïve", "Zürich"};
        List<String> out = new ArrayList<>();
        for (int d = 0; d < docs; d++) {
            StringBuilder sb = new StringBuilder();
            int sentences = 2 + r.nextInt(4);
            for (int s = 0; s < sentences; s++) {
                int len = 4 + r.nextInt(8);
                for (int w = 0; w < len; w++) {
                    String word = words[(int) Math.min(words.length - 1, Math.abs(r.nextGaussian()) * 12)];
                    if (w == 0) {
                        word = Character.toUpperCase(word.charAt(0)) + word.substring(1);
                    }
                    sb.append(word);
                    if (r.nextInt(15) == 0) {
                        sb.append(' ').append(r.nextInt(1000));
                    }
                    sb.append(w + 1 < len ? " " : (r.nextBoolean() ? ". " : "! "));
                }
            }
            sb.append('\n');
            out.add(sb.toString());
        }
        return out;
    }

    /** Random strings over an alphabet that mixes every character class the pre-tokenizer distinguishes. */
    static String random(Random r, int length) {
        String alphabet = "ab Z9'srevlmdt \t\n\r\u00a0\u3000!?,.-_ é日½²\u0301";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < length; i++) {
            if (r.nextInt(20) == 0) {
                sb.appendCodePoint(0x1F600 + r.nextInt(50));
            } else {
                sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
            }
        }
        return sb.toString();
    }
}
