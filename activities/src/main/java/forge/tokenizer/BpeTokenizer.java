package forge.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.PriorityQueue;
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
    private final int[][] merges;       // by rank: {left, right, result}
    private final LongIntMap rankOfPair;
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
        this.merges = merges.clone();
        this.rankOfPair = new LongIntMap(merges.length, -1);
        for (int rank = 0; rank < merges.length; rank++) {
            rankOfPair.put(LongIntMap.pair(merges[rank][0], merges[rank][1]), rank);
        }
    }

    @Override
    public int vocabSize() {
        return tokenBytes.length;
    }

    int mergeCount() {
        return merges.length;
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

    /** Hugging Face's {@code Word::merge_all}: a heap of (rank, position) over a linked list of symbols. */
    private int[] applyMerges(byte[] bytes) {
        int n = bytes.length;
        int[] sym = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] gone = new boolean[n];
        for (int i = 0; i < n; i++) {
            sym[i] = byteToId[bytes[i] & 0xFF];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        if (n > 1) {
            PriorityQueue<Long> queue = new PriorityQueue<>();
            for (int i = 0; i + 1 < n; i++) {
                offer(queue, sym[i], sym[i + 1], i);
            }
            Long top;
            while ((top = queue.poll()) != null) {
                int rank = (int) (top >>> 32);
                int pos = (int) (long) top;
                int right = next[pos];
                if (gone[pos] || right < 0 || rankOfPair.get(LongIntMap.pair(sym[pos], sym[right])) != rank) {
                    continue; // stale: one side was merged away since this entry was queued
                }
                sym[pos] = merges[rank][2];
                gone[right] = true;
                next[pos] = next[right];
                if (next[pos] >= 0) {
                    prev[next[pos]] = pos;
                }
                if (prev[pos] >= 0) {
                    offer(queue, sym[prev[pos]], sym[pos], prev[pos]);
                }
                if (next[pos] >= 0) {
                    offer(queue, sym[pos], sym[next[pos]], pos);
                }
            }
        }
        IntList ids = new IntList(n);
        for (int i = 0; i >= 0 && i < n; i = next[i]) {
            ids.add(sym[i]);
        }
        return ids.toArray();
    }

    private void offer(PriorityQueue<Long> queue, int left, int right, int pos) {
        int rank = rankOfPair.get(LongIntMap.pair(left, right));
        if (rank >= 0) {
            queue.add(((long) rank << 32) | pos);
        }
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
        List<String[]> mergeText = new ArrayList<>(merges.length);
        for (int[] m : merges) {
            mergeText.add(new String[] {vocab[m[0]], vocab[m[1]]});
        }
        return HuggingFaceJson.write(vocab, mergeText, true);
    }
}
