package forge.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * GPT-2 style byte-level BPE: text is split by {@link Gpt2PreTokenizer}, each piece becomes its UTF-8 bytes, and
 * merges are applied lowest rank first (leftmost first on ties), the order Hugging Face tokenizers uses, so ids
 * agree with it exactly.
 */
final class BpeTokenizer implements Tokenizer {
    private static final int SPECIALS = SpecialToken.count();
    // Pieces repeat heavily in natural text; past this many distinct ones the cache starts over rather than grow.
    private static final int CACHE_LIMIT = 200_000;

    private final byte[][] tokenBytes;  // by id; null for the specials
    private final int[] byteToId = new int[256];
    private final BpeMerges merges;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param tokenBytes the bytes of every id (ids below {@link SpecialToken#count()} are ignored)
     * @param merges     {left id, right id, result id} in rank order
     */
    BpeTokenizer(byte[][] tokenBytes, int[][] merges) {
        this.tokenBytes = tokenBytes.clone();
        Arrays.fill(byteToId, -1);
        for (int id = SPECIALS; id < tokenBytes.length; id++) {
            if (tokenBytes[id].length == 1) {
                byteToId[tokenBytes[id][0] & 0xFF] = id;
            }
        }
        for (int b = 0; b < 256; b++) {
            if (byteToId[b] < 0) {
                throw new IllegalArgumentException("byte-level vocabulary lacks byte " + b);
            }
        }
        this.merges = new BpeMerges(merges);
    }

    @Override
    public int vocabSize() {
        return tokenBytes.length;
    }

    int mergeCount() {
        return merges.count();
    }

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        Gpt2PreTokenizer.split(text, (start, end) -> out.addAll(encodePiece(text.substring(start, end))));
        return out.toArray();
    }

    private int[] encodePiece(String piece) {
        int[] cached = cache.get(piece);
        if (cached != null) {
            return cached;
        }
        int[] ids = applyMerges(piece.getBytes(StandardCharsets.UTF_8));
        if (cache.size() >= CACHE_LIMIT) {
            cache.clear();
        }
        cache.put(piece, ids);
        return ids;
    }

    private int[] applyMerges(byte[] bytes) {
        int[] sym = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            sym[i] = byteToId[bytes[i] & 0xFF];
        }
        return merges.apply(sym);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecial) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            if (id < 0 || id >= tokenBytes.length) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + vocabSize());
            }
            if (id < SPECIALS) {
                if (!skipSpecial) {
                    bytes.writeBytes(SpecialToken.forId(id).text().getBytes(StandardCharsets.UTF_8));
                }
            } else {
                bytes.writeBytes(tokenBytes[id]);
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Override
    public String type() {
        return "bpe";
    }

    @Override
    public String toHuggingFaceJson() {
        String[] vocab = new String[tokenBytes.length];
        for (SpecialToken t : SpecialToken.values()) {
            vocab[t.id()] = t.text();
        }
        for (int id = SPECIALS; id < tokenBytes.length; id++) {
            vocab[id] = ByteLevel.toText(tokenBytes[id]);
        }
        List<String[]> mergeText = new ArrayList<>(merges.count());
        for (int rank = 0; rank < merges.count(); rank++) {
            int[] m = merges.merge(rank);
            mergeText.add(new String[] {vocab[m[0]], vocab[m[1]]});
        }
        return HuggingFaceJson.write(vocab, mergeText, true);
    }
}
