package forge.tokenizer;

/**
 * Splits text into the pieces BPE merges never cross, exactly as GPT-2's regex
 * {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+} does in Hugging Face
 * tokenizers. Hand-written rather than java.util.regex: Java's {@code \s} is ASCII-only by default (HF's is
 * Unicode White_Space), and a scanner needs no backtracking for {@code \s+(?!\S)} on the hot encode path.
 */
final class Gpt2PreTokenizer {
    /** Receives each piece as [start, end) char offsets into the text. */
    @FunctionalInterface
    interface PieceSink {
        void piece(int start, int end);
    }

    private static final int LETTER = 0;
    private static final int NUMBER = 1;
    private static final int SPACE = 2;
    private static final int OTHER = 3;

    private Gpt2PreTokenizer() {
    }

    static void split(String text, PieceSink sink) {
        int n = text.length();
        int i = 0;
        while (i < n) {
            int end = contraction(text, i);
            if (end < 0) {
                int cp = text.codePointAt(i);
                int cls = classOf(cp);
                int afterFirst = i + Character.charCount(cp);
                if (cls == SPACE) {
                    if (cp == ' ' && afterFirst < n && classOf(text.codePointAt(afterFirst)) != SPACE) {
                        // " ?\p{L}+" and friends: a single space joins the word that follows it.
                        int nextCls = classOf(text.codePointAt(afterFirst));
                        end = runOf(text, afterFirst, nextCls);
                    } else {
                        end = whitespace(text, i);
                    }
                } else {
                    end = runOf(text, i, cls);
                }
            }
            sink.piece(i, end);
            i = end;
        }
    }

    /** The end of "'s", "'t", "'re", "'ve", "'m", "'ll" or "'d" at {@code i}, or -1. Case-sensitive, like GPT-2. */
    private static int contraction(String text, int i) {
        if (text.charAt(i) != '\'' || i + 1 >= text.length()) {
            return -1;
        }
        char a = text.charAt(i + 1);
        if (a == 's' || a == 't' || a == 'm' || a == 'd') {
            return i + 2;
        }
        if (i + 2 < text.length()) {
            char b = text.charAt(i + 2);
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
                return i + 3;
            }
        }
        return -1;
    }

    private static int runOf(String text, int from, int cls) {
        int j = from;
        while (j < text.length()) {
            int cp = text.codePointAt(j);
            if (classOf(cp) != cls) {
                break;
            }
            j += Character.charCount(cp);
        }
        return j;
    }

    /**
     * {@code \s+(?!\S)|\s+}: a whitespace run at the end of the text is taken whole; otherwise its last character is
     * left for the word that follows (a lone whitespace character is taken by itself).
     */
    private static int whitespace(String text, int from) {
        int lastStart = from;
        int j = from;
        while (j < text.length()) {
            int cp = text.codePointAt(j);
            if (classOf(cp) != SPACE) {
                break;
            }
            lastStart = j;
            j += Character.charCount(cp);
        }
        if (j == text.length() || lastStart == from) {
            return j;
        }
        return lastStart;
    }

    private static int classOf(int cp) {
        if (isWhiteSpace(cp)) {
            return SPACE;
        }
        switch (Character.getType(cp)) {
            case Character.UPPERCASE_LETTER:
            case Character.LOWERCASE_LETTER:
            case Character.TITLECASE_LETTER:
            case Character.MODIFIER_LETTER:
            case Character.OTHER_LETTER:
                return LETTER;
            case Character.DECIMAL_DIGIT_NUMBER:
            case Character.LETTER_NUMBER:
            case Character.OTHER_NUMBER:
                return NUMBER;
            default:
                return OTHER;
        }
    }

    /** Unicode White_Space, which is what Oniguruma's {@code \s} matches in the Hugging Face implementation. */
    static boolean isWhiteSpace(int cp) {
        if (cp < 0x80) {
            return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
        }
        return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)
                || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
    }
}
