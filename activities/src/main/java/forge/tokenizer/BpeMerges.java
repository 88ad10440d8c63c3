package forge.tokenizer;

import java.util.PriorityQueue;

/**
 * Applies ranked BPE merges to a word's symbols the way Hugging Face tokenizers does ({@code Word::merge_all}):
 * lowest rank first, leftmost first on ties, over a linked list of symbols with a heap of (rank, position).
 */
final class BpeMerges {
    private final int[][] merges;       // by rank: {left, right, result}
    private final LongIntMap rankOfPair;

    /** @param merges {left id, right id, result id} in rank order */
    BpeMerges(int[][] merges) {
        this.merges = merges.clone();
        this.rankOfPair = new LongIntMap(merges.length, -1);
        for (int rank = 0; rank < merges.length; rank++) {
            // A pair listed twice keeps its last rank, as HF's merge map (a HashMap filled in rank order) does.
            rankOfPair.put(LongIntMap.pair(merges[rank][0], merges[rank][1]), rank);
        }
    }

    int count() {
        return merges.length;
    }

    int[] merge(int rank) {
        return merges[rank];
    }

    /** The symbols after every applicable merge; sym is consumed. */
    int[] apply(int[] sym) {
        int n = sym.length;
        if (n < 2) {
            return sym;
        }
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] gone = new boolean[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
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
}
