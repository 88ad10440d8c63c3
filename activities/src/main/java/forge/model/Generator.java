package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Autoregressive sampling for {@link Gpt#generate} and {@link Gpt#generateBatch}: one forward per new token over the
 * KV cache (or the whole window without it), the next token picked on the host by {@link Sampler}.
 */
final class Generator {
    private final Gpt model;
    private final GptConfig config;

    Generator(Gpt model) {
        this.model = model;
        this.config = model.config();
    }

    int[][] generateBatch(int[][] prompts, GenerationOptions opts, long seed) {
        if (prompts.length == 0) {
            throw BadInputException.field("generate.prompt", "needs at least one prompt");
        }
        int maxLen = 0;
        for (int[] prompt : prompts) {
            if (prompt.length == 0) {
                throw BadInputException.field("generate.prompt", "prompts must be non-empty");
            }
            for (int tokenId : prompt) {
                if (tokenId < 0 || tokenId >= config.vocabSize()) {
                    throw BadInputException.field("generate.prompt",
                            "token " + tokenId + " is outside the vocabulary [0, " + config.vocabSize() + ")");
                }
            }
            maxLen = Math.max(maxLen, prompt.length);
        }
        long[] seeds = new long[prompts.length];
        for (int r = 0; r < prompts.length; r++) {
            seeds[r] = seed + r;
        }
        boolean ragged = Arrays.stream(prompts).anyMatch(p -> p.length != prompts[0].length);
        if (!ragged || maxLen + opts.maxNewTokens() <= config.blockSize()) {
            return generateRows(prompts, opts, seeds);
        }
        Map<Integer, List<Integer>> byLength = new TreeMap<>();
        for (int r = 0; r < prompts.length; r++) {
            byLength.computeIfAbsent(prompts[r].length, k -> new ArrayList<>()).add(r);
        }
        int[][] out = new int[prompts.length][];
        for (List<Integer> group : byLength.values()) {
            int[][] rows = generateRows(group.stream().map(r -> prompts[r]).toArray(int[][]::new), opts,
                    group.stream().mapToLong(r -> seeds[r]).toArray());
            for (int i = 0; i < rows.length; i++) {
                out[group.get(i)] = rows[i];
            }
        }
        return out;
    }

    /** Rows of equal length, or left-padded ones that fit block_size with all their new tokens. */
    private int[][] generateRows(int[][] prompts, GenerationOptions opts, long[] seeds) {
        int rows = prompts.length;
        int v = config.vocabSize();
        int len = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElseThrow();
        int[] pad = new int[rows];
        boolean ragged = false;
        SplittableRandom[] rngs = new SplittableRandom[rows];
        int[][] buf = new int[rows][];
        int[] ends = new int[rows];
        for (int r = 0; r < rows; r++) {
            rngs[r] = new SplittableRandom(seeds[r]);
            pad[r] = len - prompts[r].length;
            ragged |= pad[r] > 0;
            buf[r] = new int[len + opts.maxNewTokens()];
            System.arraycopy(prompts[r], 0, buf[r], pad[r], prompts[r].length);
            ends[r] = -1;
        }
        int[] leftPad = ragged ? pad : null;
        int n = len;
        int running = rows;
        try (NDManager m = model.manager().newSubManager();
             KvCache cache = opts.useKvCache() ? model.newCache(rows) : null) {
            while (n < len + opts.maxNewTokens() && running > 0) {
                float[] logits;
                try (NDScope scope = new NDScope()) {
                    logits = nextTokenLogits(m, buf, n, cache, leftPad);                 // (rows·V)
                }
                for (int r = 0; r < rows; r++) {
                    if (ends[r] >= 0) {
                        buf[r][n] = buf[r][n - 1]; // finished rows ride along; cut off below
                        continue;
                    }
                    int next = Sampler.sample(Arrays.copyOfRange(logits, r * v, (r + 1) * v), opts, rngs[r]);
                    buf[r][n] = next;
                    if (next == opts.stopToken()) {
                        ends[r] = n + 1;
                        running--;
                    }
                }
                n++;
            }
        }
        int[][] out = new int[rows][];
        for (int r = 0; r < rows; r++) {
            out[r] = Arrays.copyOfRange(buf[r], pad[r], ends[r] >= 0 ? ends[r] : n);
        }
        return out;
    }

    /** Logits (rows·V) for the token after tokens[r][0..n) of every row. */
    private float[] nextTokenLogits(NDManager m, int[][] tokens, int n, KvCache cache, int[] leftPad) {
        int from;
        if (cache != null && cache.length() > 0 && cache.length() == n - 1 && n <= config.blockSize()) {
            from = n - 1;
        } else {
            // Left-padded rows always fit (generateBatch sees to it), so their window never slides.
            from = Math.max(0, n - config.blockSize());
            if (cache != null) {
                cache.clear();
            }
        }
        int w = n - from;
        long[] window = new long[tokens.length * w];
        for (int r = 0; r < tokens.length; r++) {
            for (int i = 0; i < w; i++) {
                window[r * w + i] = tokens[r][from + i];
            }
        }
        NDArray idx = m.create(window, new Shape(tokens.length, w));
        return model.lastLogits(idx, cache, leftPad).toFloatArray();
    }
}
