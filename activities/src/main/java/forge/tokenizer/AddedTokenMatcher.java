package forge.tokenizer;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Splits text at added tokens, leftmost match first and the longest at a position, as Hugging Face's
 * AddedVocabulary does; what lies between goes on to normalisation and BPE.
 */
final class AddedTokenMatcher {
    /** A piece of the text: an added token's id, or plain text (id -1) from start to end. */
    record Piece(int id, int start, int end) {
    }

    private final Map<Character, List<AddedToken>> byFirstChar = new HashMap<>();

    AddedTokenMatcher(List<AddedToken> tokens) {
        for (AddedToken t : tokens) {
            if (!t.content().isEmpty()) {
                byFirstChar.computeIfAbsent(t.content().charAt(0), c -> new ArrayList<>()).add(t);
            }
        }
        byFirstChar.values().forEach(l -> l.sort(Comparator.comparingInt((AddedToken t) -> -t.content().length())));
    }

    /**
     * @param specials whether special tokens may match at all
     * @param untrusted chars (by index) that came from user data: no special token matches across any of them;
     *                  null when the whole text is trusted
     */
    List<Piece> split(String text, boolean specials, BitSet untrusted) {
        List<Piece> out = new ArrayList<>();
        int plainStart = 0;
        int i = 0;
        while (i < text.length()) {
            AddedToken hit = match(text, i, specials, untrusted);
            if (hit == null) {
                i++;
                continue;
            }
            int start = i;
            int end = i + hit.content().length();
            if (hit.lstrip()) {
                while (start > plainStart && Character.isWhitespace(text.charAt(start - 1))) {
                    start--;
                }
            }
            if (hit.rstrip()) {
                while (end < text.length() && Character.isWhitespace(text.charAt(end))) {
                    end++;
                }
            }
            if (start > plainStart) {
                out.add(new Piece(-1, plainStart, start));
            }
            out.add(new Piece(hit.id(), start, end));
            plainStart = end;
            i = end;
        }
        if (plainStart < text.length()) {
            out.add(new Piece(-1, plainStart, text.length()));
        }
        return out;
    }

    private AddedToken match(String text, int at, boolean specials, BitSet untrusted) {
        List<AddedToken> candidates = byFirstChar.get(text.charAt(at));
        if (candidates == null) {
            return null;
        }
        for (AddedToken t : candidates) {
            int end = at + t.content().length();
            if (t.special() && (!specials || untrusted != null && untrusted.nextSetBit(at) >= 0
                    && untrusted.nextSetBit(at) < end)) {
                continue;
            }
            if (!text.startsWith(t.content(), at)) {
                continue;
            }
            if (t.singleWord() && (at > 0 && isWordChar(text.charAt(at - 1))
                    || end < text.length() && isWordChar(text.charAt(end)))) {
                continue;
            }
            return t;
        }
        return null;
    }

    private static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }
}
