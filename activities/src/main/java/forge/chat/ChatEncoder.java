package forge.chat;

import forge.errors.BadInputException;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns conversations into {@link EncodedExample}s in the one chat layout every stage uses
 * ({@link forge.tokenizer.ChatTemplate}): {@code [<|system|>s<|end|>] <|user|>u<|end|><|assistant|>a<|end|> ...}.
 * Turns after the last assistant turn carry no loss and are dropped. An example may hold at most
 * {@code blockSize + 1} tokens ({@code blockSize} input positions); longer ones follow the {@link TruncationPolicy}.
 * Immutable and thread-safe; the counters are returned, not kept.
 */
public final class ChatEncoder {
    private static final Logger log = LoggerFactory.getLogger(ChatEncoder.class);
    private static final int LOGGED_PER_CALL = 5;

    private final Tokenizer tok;
    private final int blockSize;
    private final TruncationPolicy policy;
    private final TemplateChat template;     // a pretrained checkpoint's chat template; null: Forge's layout

    /**
     * The examples kept, and how many of the input conversations were truncated (kept, prompt shortened from the
     * left) or skipped (dropped: under SKIP any over-long example, under TRUNCATE_PROMPT_LEFT one whose final
     * assistant turn alone does not fit). {@code examples.size() + skipped}
     * equals the number of conversations given.
     */
    public record Encoded(List<EncodedExample> examples, int truncated, int skipped) {
    }

    public ChatEncoder(Tokenizer tok, int blockSize, TruncationPolicy policy) {
        if (blockSize < 2) {
            throw BadInputException.field("model.block_size", "must be >= 2 for SFT, got " + blockSize);
        }
        this.tok = tok;
        this.blockSize = blockSize;
        this.policy = policy == null ? TruncationPolicy.DEFAULT : policy;
        this.template = TemplateChat.of(tok);
    }

    public int blockSize() {
        return blockSize;
    }

    /** The most tokens an example may have: block_size inputs, plus the last target. */
    public int maxTokens() {
        return blockSize + 1;
    }

    public TruncationPolicy policy() {
        return policy;
    }

    /** The full encoding, whatever its length; {@link #encodeAll} applies the policy. */
    public EncodedExample encode(Conversation c) {
        if (template != null) {
            return template.encode(c);
        }
        int last = c.lastAssistant();
        IntBuf ids = new IntBuf();
        FloatBuf mask = new FloatBuf();
        for (int i = 0; i <= last; i++) {
            Turn t = c.turns().get(i);
            float w = t.isAssistant() ? 1f : 0f;
            ids.add(tok.id(marker(t.role())));
            mask.add(0f);
            for (int id : tok.encode(t.content())) {
                ids.add(id);
                mask.add(w);
            }
            ids.add(tok.id(SpecialToken.END_OF_TURN));
            mask.add(w);
        }
        return new EncodedExample(ids.toArray(), mask.toArray());
    }

    /**
     * Encodes every conversation and applies the policy.
     *
     * @param source names the data in errors and logs, e.g. "data.sources[0] (s3://b/sft.jsonl)"
     * @throws BadInputException under {@link TruncationPolicy#FAIL}, on the first example that is too long
     */
    public Encoded encodeAll(List<Conversation> conversations, String source) {
        List<EncodedExample> kept = new ArrayList<>(conversations.size());
        int truncated = 0;
        int skipped = 0;
        for (int i = 0; i < conversations.size(); i++) {
            Conversation c = conversations.get(i);
            EncodedExample e = encode(c);
            int n = e.tokens().length;
            if (n <= maxTokens()) {
                kept.add(e);
                continue;
            }
            if (policy == TruncationPolicy.FAIL) {
                throw new BadInputException(source + ": example " + (i + 1) + " has " + n + " tokens, more than "
                        + "block_size + 1 = " + maxTokens() + "; raise model.block_size, shorten the example, or set "
                        + "the truncation policy to truncate_prompt_left");
            }
            int responseTokens = n - responseStart(e);
            if (policy == TruncationPolicy.SKIP || responseTokens >= maxTokens()) {
                skipped++;
                if (skipped <= LOGGED_PER_CALL) {
                    log.info("{}: skipping example {}: {} tokens ({} in its final assistant turn), block_size is {}",
                            source, i + 1, n, responseTokens, blockSize);
                }
                continue;
            }
            int from = n - maxTokens();
            kept.add(new EncodedExample(Arrays.copyOfRange(e.tokens(), from, n),
                    Arrays.copyOfRange(e.lossMask(), from, n)));
            truncated++;
        }
        if (truncated > 0 || skipped > 0) {
            log.info("{}: {} of {} SFT examples had their prompt truncated from the left, {} skipped as too long "
                    + "(block_size {})", source, truncated, conversations.size(), skipped, blockSize);
        }
        return new Encoded(List.copyOf(kept), truncated, skipped);
    }

    /** Index of the {@code <|assistant|>} marker that opens the final assistant turn. */
    private int responseStart(EncodedExample e) {
        int[] t = e.tokens();
        if (template != null) {
            // The final reply is the last run of loss tokens; its generation prompt before it is the template's.
            float[] w = e.lossMask();
            int i = w.length - 1;
            while (i > 0 && w[i - 1] == 1f) {
                i--;
            }
            return i;
        }
        int assistant = tok.id(SpecialToken.ASSISTANT);
        for (int i = t.length - 1; i >= 0; i--) {
            if (t[i] == assistant) {
                return i;
            }
        }
        throw new IllegalStateException("unreachable: every encoding has an assistant turn");
    }

    /**
     * The ids to generate a reply from: every turn of {@code context} rendered as in training, then
     * {@code <|assistant|>}, so the model continues with the answer. For a single user prompt this is
     * {@link forge.tokenizer.ChatTemplate#prompt}. When longer than {@code maxTokens} the start is dropped.
     */
    public static int[] prompt(Tokenizer tok, List<Turn> context, int maxTokens) {
        TemplateChat template = TemplateChat.of(tok);
        if (template != null) {
            int[] all = template.prompt(context);
            return all.length <= maxTokens ? all : Arrays.copyOfRange(all, all.length - maxTokens, all.length);
        }
        IntBuf ids = new IntBuf();
        for (Turn t : context) {
            ids.add(tok.id(marker(t.role())));
            for (int id : tok.encode(t.content())) {
                ids.add(id);
            }
            ids.add(tok.id(SpecialToken.END_OF_TURN));
        }
        ids.add(tok.id(SpecialToken.ASSISTANT));
        int[] all = ids.toArray();
        return all.length <= maxTokens ? all : Arrays.copyOfRange(all, all.length - maxTokens, all.length);
    }

    /** {@code <|user|>prompt<|end|><|assistant|>}, cropped from the left to {@code maxTokens}. */
    public static int[] prompt(Tokenizer tok, String userPrompt, int maxTokens) {
        return prompt(tok, List.of(Turn.user(userPrompt)), maxTokens);
    }

    /**
     * The id that closes an assistant turn, where generation stops and a reply's tokens end: {@code <|end|>} for
     * Forge's tokenizers, the checkpoint's chat template's own end-of-turn token for a pretrained one.
     */
    public static int endOfTurn(Tokenizer tok) {
        TemplateChat template = tok instanceof forge.tokenizer.PretrainedTokenizer p && p.config().chatTemplate() != null
                ? TemplateChat.of(tok) : null;
        return template != null ? template.endOfTurn() : tok.id(SpecialToken.END_OF_TURN);
    }

    /**
     * The reply text in a generated sequence: the ids after the first {@code promptLength}, up to (not including)
     * the first {@code <|end|>} or {@code <|endoftext|>}, decoded without special tokens.
     */
    public static String reply(Tokenizer tok, int[] generated, int promptLength) {
        int end = promptLength;
        int eot = endOfTurn(tok);
        int eos = tok.id(SpecialToken.END_OF_TEXT);
        while (end < generated.length && generated[end] != eot && generated[end] != eos) {
            end++;
        }
        return tok.decode(Arrays.copyOfRange(generated, Math.min(promptLength, end), end), true);
    }

    private static SpecialToken marker(String role) {
        return switch (role) {
            case Turn.SYSTEM -> SpecialToken.SYSTEM;
            case Turn.USER -> SpecialToken.USER;
            case Turn.ASSISTANT -> SpecialToken.ASSISTANT;
            default -> throw new IllegalArgumentException("unknown role " + role);
        };
    }

    private static final class IntBuf {
        private int[] a = new int[64];
        private int n;

        void add(int v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }

    private static final class FloatBuf {
        private float[] a = new float[64];
        private int n;

        void add(float v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        float[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
