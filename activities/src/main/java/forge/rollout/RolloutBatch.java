package forge.rollout;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import forge.tensor.EngineArrays;

import java.util.List;

/**
 * A batch of sampled sequences (prompt then reply) on the host, right-padded to {@code width}, with per-action
 * arrays of {@code rows · (width − 1)}. Action j (0 ≤ j &lt; width−1) is the token at j+1, taken with the policy's
 * logits at j. A reply of n tokens ({@code <|end|>} included) after a prompt of p tokens is actions p−1 .. p+n−2:
 * {@code from[r]} .. {@code to[r] − 1}; {@code mask} is 1 there and 0 elsewhere (padding is never an action).
 *
 * @param ended per row, whether the reply closed its turn (ended with the stop token) rather than ran out of tokens
 */
public record RolloutBatch(int rows, int width, long[] tokens, int[] from, int[] to, boolean[] ended, float[] mask) {

    /** @param promptLengths per sequence, how many of its leading ids are the prompt */
    public static RolloutBatch of(List<int[]> sequences, int[] promptLengths, int stopToken) {
        int rows = sequences.size();
        int width = 0;
        for (int[] s : sequences) {
            width = Math.max(width, s.length);
        }
        int actions = width - 1;
        long[] tokens = new long[rows * width];
        int[] from = new int[rows];
        int[] to = new int[rows];
        boolean[] ended = new boolean[rows];
        float[] mask = new float[rows * actions];
        for (int r = 0; r < rows; r++) {
            int[] s = sequences.get(r);
            for (int i = 0; i < width; i++) {
                tokens[r * width + i] = i < s.length ? s[i] : stopToken; // padding: never an action (mask 0)
            }
            from[r] = promptLengths[r] - 1;
            to[r] = s.length - 1;
            ended[r] = s[s.length - 1] == stopToken && s.length > promptLengths[r];
            for (int j = from[r]; j < to[r]; j++) {
                mask[r * actions + j] = 1;
            }
        }
        return new RolloutBatch(rows, width, tokens, from, to, ended, mask);
    }

    public int actions() {
        return width - 1;
    }

    /** Tokens of every sequence, prompt included, padding not. */
    public long tokenCount() {
        long n = 0;
        for (int t : to) {
            n += t + 1;
        }
        return n;
    }

    /** Reply tokens of row r. */
    public int replyLength(int r) {
        return to[r] - from[r];
    }

    /** (rows, width) token ids. */
    public NDArray ids(NDManager m) {
        return m.create(tokens, new Shape(rows, width));
    }

    /** (rows, width − 1) per-action values as a libtorch-owned array. */
    public NDArray perAction(NDManager m, float[] values) {
        return EngineArrays.of(m, values, new Shape(rows, actions()));
    }

    /** A mini-batch: some rows of a batch, and the same rows of its per-action arrays. */
    public record Picked(RolloutBatch batch, float[][] perAction) {}

    /** The given rows, narrowed to the widest of them, with the same rows of each per-action array. */
    public Picked pick(int[] pick, float[]... perAction) {
        int w = 0;
        for (int r : pick) {
            w = Math.max(w, to[r] + 1);
        }
        int n = pick.length;
        long[] t = new long[n * w];
        float[][] out = new float[perAction.length + 1][n * (w - 1)];
        int[] f = new int[n];
        int[] e = new int[n];
        boolean[] done = new boolean[n];
        for (int i = 0; i < n; i++) {
            int r = pick[i];
            System.arraycopy(tokens, r * width, t, i * w, w);
            System.arraycopy(mask, r * (width - 1), out[0], i * (w - 1), w - 1);
            for (int a = 0; a < perAction.length; a++) {
                System.arraycopy(perAction[a], r * (width - 1), out[a + 1], i * (w - 1), w - 1);
            }
            f[i] = from[r];
            e[i] = to[r];
            done[i] = ended[r];
        }
        float[][] arrays = new float[perAction.length][];
        System.arraycopy(out, 1, arrays, 0, perAction.length);
        return new Picked(new RolloutBatch(n, w, t, f, e, done, out[0]), arrays);
    }

    /** Sequences right-padded with {@code pad} to {@code width}, as (rows, width) ids. */
    public static NDArray padded(NDManager m, List<int[]> seqs, int width, int pad) {
        long[] ids = new long[seqs.size() * width];
        for (int r = 0; r < seqs.size(); r++) {
            int[] s = seqs.get(r);
            for (int i = 0; i < width; i++) {
                ids[r * width + i] = i < s.length ? s[i] : pad;
            }
        }
        return m.create(ids, new Shape(seqs.size(), width));
    }
}
