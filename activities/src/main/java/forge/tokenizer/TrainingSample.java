package forge.tokenizer;

import java.util.ArrayList;
import java.util.List;

/** The first {@code maxChars} characters of a corpus, still split into documents so no token spans two of them. */
final class TrainingSample {
    private TrainingSample() {
    }

    static List<String> take(List<String> documents, long maxChars) {
        List<String> out = new ArrayList<>();
        long left = maxChars;
        for (String doc : documents) {
            if (left <= 0) {
                break;
            }
            if (doc == null || doc.isEmpty()) {
                continue;
            }
            if (doc.length() <= left) {
                out.add(doc);
                left -= doc.length();
            } else {
                int end = (int) left;
                // Never cut a surrogate pair in half: half an emoji is not a character.
                if (Character.isHighSurrogate(doc.charAt(end - 1))) {
                    end--;
                }
                if (end > 0) {
                    out.add(doc.substring(0, end));
                }
                left = 0;
            }
        }
        return out;
    }
}
