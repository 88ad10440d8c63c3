package forge.preference;

import forge.chat.ChatEncoder;
import forge.chat.TruncationPolicy;
import forge.errors.BadInputException;
import forge.tokenizer.Tokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns {@link PreferenceGroup}s into {@link EncodedGroup}s in the SFT chat layout
 * ({@link forge.tokenizer.ChatTemplate}): each response becomes
 * {@code ChatEncoder.prompt(tok, prompt) ++ tok.encode(response) ++ <|end|>}, i.e.
 * {@code [<|system|>s<|end|>] <|user|>u<|end|> ... <|assistant|>response<|end|>}, exactly what the SFT model was
 * trained on and what PPO will score. A sequence may hold at most {@code blockSize} tokens (the reward model reads
 * its output at the last one, the {@code <|end|>}, so no extra target token is needed as in SFT).
 *
 * <p><b>Too long.</b> Under {@link TruncationPolicy#FAIL} any over-long sequence is a {@link BadInputException}
 * naming the source, group and response. Otherwise a response whose reply part ({@code <|assistant|>}, content,
 * {@code <|end|>}) does not fit with at least one token of prompt before it is dropped, under
 * {@link TruncationPolicy#SKIP} so is every response whose full sequence does not fit, and with it every pair it is
 * in; a group left with no pair is skipped. Under {@link TruncationPolicy#TRUNCATE_PROMPT_LEFT} the prompt is then cut
 * from the left, by the same amount for every response of the group (enough for its longest kept response), so all
 * responses of a prompt are scored against the same context; the reply is always kept whole. Every case is counted
 * in {@link Encoded} and the first few are logged. Immutable and thread-safe.
 */
public final class PreferenceEncoder {
    private static final Logger log = LoggerFactory.getLogger(PreferenceEncoder.class);
    private static final int LOGGED_PER_CALL = 5;

    private final Tokenizer tok;
    private final int blockSize;
    private final TruncationPolicy policy;
    private final int endOfTurn;

    /**
     * @param groups          the groups kept, in input order
     * @param truncatedGroups kept groups whose prompt was shortened from the left
     * @param skippedGroups   groups dropped because none of their pairs fit
     * @param skippedPairs    pairs dropped because one of their responses did not fit (including every pair of a
     *                        skipped group)
     */
    public record Encoded(List<EncodedGroup> groups, int truncatedGroups, int skippedGroups, int skippedPairs) {
        public Encoded {
            groups = List.copyOf(groups);
        }

        public int pairs() {
            return groups.stream().mapToInt(g -> g.pairs().size()).sum();
        }
    }

    /** @param policy null for {@link TruncationPolicy#DEFAULT} */
    public PreferenceEncoder(Tokenizer tok, int blockSize, TruncationPolicy policy) {
        if (blockSize < 2) {
            throw BadInputException.field("model.block_size", "must be >= 2 for reward modeling, got " + blockSize);
        }
        this.tok = tok;
        this.blockSize = blockSize;
        this.policy = policy == null ? TruncationPolicy.DEFAULT : policy;
        this.endOfTurn = ChatEncoder.endOfTurn(tok);
    }

    public int blockSize() {
        return blockSize;
    }

    public TruncationPolicy policy() {
        return policy;
    }

    /** The full encoding, whatever its length; {@link #encodeAll} applies the policy. */
    public EncodedGroup encode(PreferenceGroup g) {
        int[] prompt = promptIds(g);
        List<int[]> seqs = new ArrayList<>(g.responses().size());
        for (String r : g.responses()) {
            seqs.add(concat(prompt, reply(r)));
        }
        return new EncodedGroup(seqs, g.pairs(), prompt.length);
    }

    /**
     * Encodes every group and applies the policy.
     *
     * @param source names the data in errors and logs, e.g. "data.sources[0] (s3://b/prefs.jsonl)"
     * @throws BadInputException under {@link TruncationPolicy#FAIL}, on the first sequence that is too long
     */
    public Encoded encodeAll(List<PreferenceGroup> groups, String source) {
        List<EncodedGroup> kept = new ArrayList<>(groups.size());
        int truncated = 0;
        int skippedGroups = 0;
        int skippedPairs = 0;
        int logged = 0;
        for (int gi = 0; gi < groups.size(); gi++) {
            PreferenceGroup g = groups.get(gi);
            int[] prompt = promptIds(g);
            int k = g.responses().size();
            int[][] replies = new int[k][];
            boolean[] fits = new boolean[k];
            for (int j = 0; j < k; j++) {
                replies[j] = reply(g.responses().get(j));
                int n = prompt.length + replies[j].length;
                if (n > blockSize && policy == TruncationPolicy.FAIL) {
                    throw new BadInputException(source + ": group " + (gi + 1) + ", response " + (j + 1) + " has "
                            + n + " tokens, more than block_size = " + blockSize + "; raise model.block_size, shorten "
                            + "the data, or set the truncation policy to truncate_prompt_left");
                }
                // Under TRUNCATE_PROMPT_LEFT the reply plus <|assistant|> and one token of context must fit.
                fits[j] = policy == TruncationPolicy.SKIP ? n <= blockSize : replies[j].length + 2 <= blockSize;
            }
            // Keep the pairs whose responses both fit, then only the responses those pairs use, renumbered.
            boolean[] used = new boolean[k];
            List<PreferenceGroup.Pair> fitting = new ArrayList<>();
            for (PreferenceGroup.Pair p : g.pairs()) {
                if (fits[p.chosen()] && fits[p.rejected()]) {
                    fitting.add(p);
                    used[p.chosen()] = true;
                    used[p.rejected()] = true;
                }
            }
            int keptPairs = fitting.size();
            int dropped = g.pairs().size() - keptPairs;
            skippedPairs += dropped;
            if (dropped > 0 && logged++ < LOGGED_PER_CALL) {
                log.info("{}: group {}: dropping {} of {} pairs, a response does not fit in block_size {} ({} prompt "
                        + "tokens, replies of {} tokens)", source, gi + 1, dropped, g.pairs().size(), blockSize,
                        prompt.length, Arrays.stream(replies).mapToInt(r -> r.length).boxed().toList());
            }
            if (keptPairs == 0) {
                skippedGroups++;
                continue;
            }
            int[] newIndex = new int[k];
            int next = 0;
            int longest = 0;
            for (int j = 0; j < k; j++) {
                if (used[j]) {
                    newIndex[j] = next++;
                    longest = Math.max(longest, replies[j].length);
                }
            }
            int[] context = prompt;
            if (prompt.length + longest > blockSize) {
                context = Arrays.copyOfRange(prompt, prompt.length - (blockSize - longest), prompt.length);
                truncated++;
            }
            List<int[]> seqs = new ArrayList<>(next);
            for (int j = 0; j < k; j++) {
                if (used[j]) {
                    seqs.add(concat(context, replies[j]));
                }
            }
            List<PreferenceGroup.Pair> pairs = new ArrayList<>(keptPairs);
            for (PreferenceGroup.Pair p : fitting) {
                pairs.add(new PreferenceGroup.Pair(newIndex[p.chosen()], newIndex[p.rejected()], p.margin()));
            }
            kept.add(new EncodedGroup(seqs, pairs, context.length));
        }
        if (truncated > 0 || skippedPairs > 0) {
            log.info("{}: {} of {} preference groups had their prompt truncated from the left; {} pairs dropped as "
                    + "too long, {} groups left with none (block_size {}, policy {})", source, truncated,
                    groups.size(), skippedPairs, skippedGroups, blockSize, policy);
        }
        return new Encoded(kept, truncated, skippedGroups, skippedPairs);
    }

    /**
     * One response to a single-turn prompt, laid out as {@link #encodeAll} lays it out under
     * TRUNCATE_PROMPT_LEFT: what a trained reward model scores. A reply that does not fit with {@code <|assistant|>}
     * and one token of context before it is a BadInputException.
     */
    public int[] sequence(String userPrompt, String response) {
        int[] reply = reply(response);
        if (reply.length + 2 > blockSize) {
            throw new BadInputException("the response has " + (reply.length - 1) + " tokens; with <|end|> and a prompt "
                    + "it does not fit the model's block_size of " + blockSize);
        }
        return concat(ChatEncoder.prompt(tok, userPrompt, blockSize - reply.length), reply);
    }

    private int[] promptIds(PreferenceGroup g) {
        return ChatEncoder.prompt(tok, g.prompt(), Integer.MAX_VALUE);
    }

    /**
     * The response's ids then the end-of-turn token ({@code <|end|>}, or the checkpoint's chat template's own): what
     * the policy generates up to its stop token. The generation prompt before it ends the prompt.
     */
    private int[] reply(String response) {
        int[] ids = tok.encode(response);
        int[] out = Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = endOfTurn;
        return out;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
