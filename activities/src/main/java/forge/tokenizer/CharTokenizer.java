package forge.tokenizer;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** One token per code point; characters the training text never had become {@link SpecialToken#UNKNOWN}. */
final class CharTokenizer implements Tokenizer {
    private static final int SPECIALS = SpecialToken.count();

    private final int[] codePoints; // by id - SPECIALS, ascending
    private final int[] bmpIds;     // fast path for the Basic Multilingual Plane; -1 where unknown
    private final Map<Integer, Integer> otherIds = new HashMap<>();

    CharTokenizer(int[] sortedCodePoints) {
        this.codePoints = sortedCodePoints.clone();
        this.bmpIds = new int[Character.MAX_VALUE + 1];
        Arrays.fill(bmpIds, -1);
        for (int i = 0; i < codePoints.length; i++) {
            int cp = codePoints[i];
            if (i > 0 && cp <= codePoints[i - 1]) {
                throw new IllegalArgumentException("code points must be strictly ascending");
            }
            if (cp <= Character.MAX_VALUE) {
                bmpIds[cp] = SPECIALS + i;
            } else {
                otherIds.put(cp, SPECIALS + i);
            }
        }
    }

    static CharTokenizer train(List<String> documents, int maxVocab) {
        Map<Integer, long[]> counts = new HashMap<>();
        for (String doc : documents) {
            doc.codePoints().forEach(cp -> {
                // A lone surrogate is a broken string, not a character worth a token; it will encode as unknown.
                if (!Character.isSurrogate((char) cp) || cp > Character.MAX_VALUE) {
                    counts.computeIfAbsent(cp, k -> new long[1])[0]++;
                }
            });
        }
        int[] chosen = counts.keySet().stream().mapToInt(Integer::intValue).toArray();
        if (maxVocab > 0 && chosen.length > maxVocab - SPECIALS) {
            // Keep the most frequent characters; ties go to the lower code point so training stays deterministic.
            chosen = counts.entrySet().stream()
                    .sorted((a, b) -> a.getValue()[0] != b.getValue()[0]
                            ? Long.compare(b.getValue()[0], a.getValue()[0])
                            : Integer.compare(a.getKey(), b.getKey()))
                    .limit(maxVocab - SPECIALS)
                    .mapToInt(Map.Entry::getKey)
                    .toArray();
        }
        Arrays.sort(chosen);
        return new CharTokenizer(chosen);
    }

    int[] codePoints() {
        return codePoints.clone();
    }

    @Override
    public int vocabSize() {
        return SPECIALS + codePoints.length;
    }

    @Override
    public int[] encode(String text) {
        int[] out = new int[text.length()];
        int n = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            int id = cp <= Character.MAX_VALUE ? bmpIds[cp] : otherIds.getOrDefault(cp, -1);
            out[n++] = id >= 0 ? id : SpecialToken.UNKNOWN.id();
        }
        return n == out.length ? out : Arrays.copyOf(out, n);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecial) {
        StringBuilder sb = new StringBuilder(ids.length);
        for (int id : ids) {
            if (id < 0 || id >= vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + vocabSize());
            }
            if (id < SPECIALS) {
                if (!skipSpecial) {
                    sb.append(SpecialToken.forId(id).text());
                }
            } else {
                sb.appendCodePoint(codePoints[id - SPECIALS]);
            }
        }
        return sb.toString();
    }

    @Override
    public String type() {
        return "char";
    }

    @Override
    public String toHuggingFaceJson() {
        String[] vocab = new String[vocabSize()];
        for (SpecialToken t : SpecialToken.values()) {
            vocab[t.id()] = t.text();
        }
        for (int i = 0; i < codePoints.length; i++) {
            vocab[SPECIALS + i] = new String(Character.toChars(codePoints[i]));
        }
        return HuggingFaceJson.write(vocab, List.of(), false);
    }
}
