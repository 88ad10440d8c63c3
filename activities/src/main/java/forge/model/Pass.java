package forge.model;

import ai.djl.ndarray.NDArray;

/**
 * What every layer of one forward shares besides its input.
 *
 * @param b        batch rows
 * @param t        new positions per row
 * @param past     positions already in the cache (0 without one)
 * @param mask     additive attention mask: (T, past+T), (B, 1, T, past+T), or null when nothing is hidden (a single
 *                 new token sees everything)
 * @param causal   mask is exactly the causal mask of T = past+T positions (no cache, no packing, no padding), which
 *                 fused attention applies without reading it
 * @param angles   the rotary angles of these positions; null for GPT-2's learned positions
 * @param cache    keys and values so far, or null
 * @param training whether dropout is active
 * @param precision what the matmuls compute in (see {@link Precision})
 */
record Pass(long b, long t, int past, NDArray mask, boolean causal, Rope.Angles angles, KvCache cache,
            boolean training, Precision precision) {
}
