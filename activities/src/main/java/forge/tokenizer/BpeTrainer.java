package forge.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Learns byte-level BPE merges from pre-tokenized word counts. Pair counts are kept up to date incrementally: a merge
 * only revisits the words that contain its pair, and a max-heap with lazy re-insertion finds the next best pair, so
 * training cost follows the number of merges times the words each touches rather than the corpus size.
 */
final class BpeTrainer {
    private static final int SPECIALS = SpecialToken.count();
    // A pair seen once is noise, not structure; stopping there keeps small corpora from memorising themselves.
    private static final int MIN_PAIR_COUNT = 2;

    private final int[][] words;   // symbol ids; merged-away slots are compacted out
    private final int[] lengths;
    private final int[] freqs;
    private final LongIntMap pairCounts;
    private final Map<Long, IntList> wordsWithPair = new HashMap<>();
    private final int[] visitedAt;
    private final List<byte[]> tokenBytes = new ArrayList<>();
    private final List<int[]> merges = new ArrayList<>();

    private BpeTrainer(Map<String, int[]> wordCounts) {
        String[] distinct = wordCounts.keySet().toArray(new String[0]);
        Arrays.sort(distinct); // deterministic word order regardless of hashing
        words = new int[distinct.length][];
        lengths = new int[distinct.length];
        freqs = new int[distinct.length];
        visitedAt = new int[distinct.length];
        for (int i = 0; i < SPECIALS; i++) {
            tokenBytes.add(null);
        }
        for (int b = 0; b < 256; b++) {
            tokenBytes.add(new byte[] {(byte) b});
        }
        for (int w = 0; w < distinct.length; w++) {
            byte[] bytes = distinct[w].getBytes(StandardCharsets.UTF_8);
            words[w] = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) {
                words[w][i] = SPECIALS + (bytes[i] & 0xFF);
            }
            lengths[w] = bytes.length;
            freqs[w] = wordCounts.get(distinct[w])[0];
        }
        pairCounts = new LongIntMap(1 << 16, 0);
        for (int w = 0; w < words.length; w++) {
            for (int i = 0; i + 1 < lengths[w]; i++) {
                long p = LongIntMap.pair(words[w][i], words[w][i + 1]);
                pairCounts.add(p, freqs[w]);
                wordsWithPair.computeIfAbsent(p, k -> new IntList(4)).add(w);
            }
        }
    }

    static BpeTokenizer train(List<String> documents, int vocabSize) {
        Map<String, int[]> counts = new HashMap<>();
        for (String doc : documents) {
            Gpt2PreTokenizer.split(doc, (s, e) -> counts.computeIfAbsent(doc.substring(s, e), k -> new int[1])[0]++);
        }
        BpeTrainer trainer = new BpeTrainer(counts);
        trainer.run(vocabSize);
        return new BpeTokenizer(trainer.tokenBytes.toArray(new byte[0][]), trainer.merges.toArray(new int[0][]));
    }

    /** Heap order: higher count first; ties go to the smaller (left, right) ids so every run picks the same pair. */
    private static int compare(long[] a, long[] b) {
        if (a[0] != b[0]) {
            return Long.compare(b[0], a[0]);
        }
        return Long.compare(a[1], b[1]) != 0 ? Long.compare(a[1], b[1]) : Long.compare(a[2], b[2]);
    }

    private void run(int vocabSize) {
        PriorityQueue<long[]> heap = new PriorityQueue<>(BpeTrainer::compare);
        pairCounts.forEach((p, c) -> heap.add(entry(c, p)));
        while (tokenBytes.size() < vocabSize && !heap.isEmpty()) {
            long[] top = heap.poll();
            long pair = LongIntMap.pair((int) top[1], (int) top[2]);
            int current = pairCounts.get(pair);
            if (current != top[0]) {
                if (current > 0) {
                    heap.add(entry(current, pair)); // counts only fall for existing pairs, so re-queue lower
                }
                continue;
            }
            if (current < MIN_PAIR_COUNT) {
                break;
            }
            int result = tokenBytes.size();
            int left = (int) top[1];
            int right = (int) top[2];
            byte[] merged = Arrays.copyOf(tokenBytes.get(left), tokenBytes.get(left).length + tokenBytes.get(right).length);
            System.arraycopy(tokenBytes.get(right), 0, merged, tokenBytes.get(left).length, tokenBytes.get(right).length);
            tokenBytes.add(merged);
            merges.add(new int[] {left, right, result});
            for (long p : mergeEverywhere(pair, left, right, result)) {
                heap.add(entry(pairCounts.get(p), p));
            }
        }
    }

    private static long[] entry(int count, long pair) {
        return new long[] {count, LongIntMap.first(pair), LongIntMap.second(pair)};
    }

    /** Replaces (left, right) by result in every word that has it; returns the new pairs that now have counts. */
    private List<Long> mergeEverywhere(long pair, int left, int right, int result) {
        IntList candidates = wordsWithPair.remove(pair);
        List<Long> created = new ArrayList<>();
        if (candidates == null) {
            return created;
        }
        int stamp = merges.size();
        LongIntMap seenCreated = new LongIntMap(16, 0);
        for (int c = 0; c < candidates.size(); c++) {
            int w = candidates.get(c);
            if (visitedAt[w] == stamp) {
                continue; // a word is listed once per occurrence of the pair
            }
            visitedAt[w] = stamp;
            int[] sym = words[w];
            int len = lengths[w];
            int f = freqs[w];
            boolean has = false;
            for (int i = 0; i + 1 < len && !has; i++) {
                has = sym[i] == left && sym[i + 1] == right;
            }
            if (!has) {
                continue; // listed under a pair that an earlier merge already consumed here
            }
            for (int i = 0; i + 1 < len; i++) {
                pairCounts.add(LongIntMap.pair(sym[i], sym[i + 1]), -f);
            }
            int out = 0;
            for (int i = 0; i < len; i++) {
                if (i + 1 < len && sym[i] == left && sym[i + 1] == right) {
                    sym[out++] = result;
                    i++;
                } else {
                    sym[out++] = sym[i];
                }
            }
            lengths[w] = out;
            for (int i = 0; i + 1 < out; i++) {
                long p = LongIntMap.pair(sym[i], sym[i + 1]);
                pairCounts.add(p, f);
                if (sym[i] == result || sym[i + 1] == result) {
                    wordsWithPair.computeIfAbsent(p, k -> new IntList(4)).add(w);
                    if (seenCreated.add(p, 1) == 1) {
                        created.add(p);
                    }
                }
            }
        }
        return created;
    }
}
