package forge.generation;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import forge.chat.ChatEncoder;
import forge.checkpoint.CheckpointStore;
import forge.errors.BadInputException;
import forge.model.GenerationOptions;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.model.LoraConfig;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;
import forge.train.ParentModel;
import forge.train.TrainState;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Samples from any stage's checkpoint (pretrain, sft, reward, ppo): the model from {@code model.safetensors} and
 * {@code config.json}, its tokenizer, and the stage from {@code state.json}. A reward model's {@code score.weight}
 * is loaded with its head and not used (the LM head is the tied {@code wte}); a LoRA step checkpoint's adapters are
 * merged as the stage's {@code final/} would have them.
 *
 * <p>In chat mode a prompt is one user turn, {@code <|user|>prompt<|end|><|assistant|>}, and the reply runs to the
 * closing {@code <|end|>}; in raw mode the prompt is text the model continues after {@code <|endoftext|>} (where
 * its training documents start), up to the next {@code <|endoftext|>}. Prompts longer than the context leaves room
 * for (block_size − max_new_tokens) lose their start, and each {@link Reply} says how many tokens.
 */
public final class CheckpointGenerator implements AutoCloseable {
    /** The most rows one batched generation call takes; more same-length rows are split into several calls. */
    static final int MAX_BATCH = 32;

    private final NDManager manager;
    private final Gpt model;
    private final Tokenizer tokenizer;
    private final String uri;
    private final String stage;

    private CheckpointGenerator(NDManager manager, Gpt model, Tokenizer tokenizer, String uri, String stage) {
        this.manager = manager;
        this.model = model;
        this.tokenizer = tokenizer;
        this.uri = uri;
        this.stage = stage;
    }

    /**
     * One reply (or continuation) to one prompt.
     *
     * @param prompt        index of the prompt in the list given
     * @param sample        which of that prompt's samples
     * @param text          the reply, decoded without special tokens
     * @param promptTokens  tokens the model was given (after cropping)
     * @param croppedTokens tokens cut from the start of the prompt to leave room for max_new_tokens
     * @param newTokens     tokens generated, the stop token included when it was sampled
     * @param stopped       whether generation ended at the stop token rather than at max_new_tokens
     */
    public record Reply(int prompt, int sample, String text, int promptTokens, int croppedTokens, int newTokens,
                        boolean stopped) {
    }

    /** Every reply, prompt by prompt and sample by sample, and the time generation took. */
    public record Generation(List<Reply> replies, double seconds) {
        public long newTokens() {
            return replies.stream().mapToLong(Reply::newTokens).sum();
        }

        public double tokensPerSecond() {
            return seconds > 0 ? newTokens() / seconds : 0;
        }
    }

    /** @param uri a stage's checkpoint directory, e.g. {@code s3://forge/runs/<run>/sft/final/} */
    public static CheckpointGenerator load(CheckpointStore reader, String uri) {
        ParentModel m = ParentModel.load(reader, uri);
        Optional<TrainState> state = m.checkpoint().optionalFile("state.json")
                .map(bytes -> TrainState.fromJson(bytes, m.uri()));
        LoraConfig lora = loraOf(m, state.orElse(null));
        NDManager manager = NDManager.newBaseManager();
        Gpt model = null;
        try {
            model = Gpt.create(manager, m.config(), 0);
            if (m.weights().containsKey("score.weight")) {
                model.addScoreHead(0);
            }
            if (lora != null) {
                model.addLora(lora, 0);
            }
            m.loadInto(model);
            if (lora != null) {
                model.mergeLora();
            }
            return new CheckpointGenerator(manager, model, m.tokenizer(), m.uri(),
                    state.map(TrainState::stage).orElse(null));
        } catch (RuntimeException e) {
            if (model != null) {
                model.close();
            }
            manager.close();
            throw e;
        }
    }

    /** The adapters a LoRA step checkpoint holds beside its base weights, from the stage's resolved config. */
    private static LoraConfig loraOf(ParentModel m, TrainState state) {
        if (m.weights().keySet().stream().noneMatch(name -> name.contains(".lora_"))) {
            return null;
        }
        JsonNode l = state == null || state.config() == null ? null : state.config().get("lora");
        if (l == null || !l.hasNonNull("rank") || !l.hasNonNull("alpha")) {
            throw new BadInputException(m.uri() + " holds LoRA adapters but its state.json does not say their rank "
                    + "and alpha; generate from the stage's final/, which holds the merged weights");
        }
        List<String> targets = new ArrayList<>();
        l.path("targets").forEach(t -> targets.add(t.asText()));
        return new LoraConfig(l.get("rank").asInt(), l.get("alpha").asDouble(),
                targets.isEmpty() ? List.of("c_attn") : targets);
    }

    public String uri() {
        return uri;
    }

    /** The stage that wrote the checkpoint, from its state.json; null when it has none. */
    public String stage() {
        return stage;
    }

    public GptConfig config() {
        return model.config();
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * Whether prompts are chat turns unless the caller says otherwise: for every stage but pretraining (whose model
     * never saw the chat template); for a checkpoint without state.json, when it is a reward model.
     */
    public boolean chatByDefault() {
        return stage != null ? !stage.equals("pretrain") : model.hasScoreHead();
    }

    /** The tokens a prompt may keep so that max_new_tokens still fit the context (at least one). */
    public int promptRoom(int maxNewTokens) {
        return Math.max(1, model.config().blockSize() - maxNewTokens);
    }

    /** One reply per prompt; see {@link #sample}. */
    public List<String> generate(List<String> prompts, GenerationOptions opts, long seed, boolean chat) {
        return sample(prompts, 1, opts, seed, chat).replies().stream().map(Reply::text).toList();
    }

    /**
     * {@code samples} replies to every prompt. The stop token is the mode's ({@code <|end|>} in chat mode,
     * {@code <|endoftext|>} in raw mode), whatever {@code opts.stopToken()} says. Prompts of equal encoded length are
     * generated in one batch; row k of all rows in that order samples with seed + k, so the same prompts, options
     * and seed give the same replies.
     */
    public Generation sample(List<String> prompts, int samples, GenerationOptions opts, long seed, boolean chat) {
        if (prompts == null || prompts.isEmpty()) {
            throw BadInputException.field("generate.prompt", "needs at least one prompt");
        }
        if (samples < 1) {
            throw BadInputException.field("generate.samples", "must be >= 1, got " + samples);
        }
        int stop = chat ? ChatEncoder.endOfTurn(tokenizer) : tokenizer.id(SpecialToken.END_OF_TEXT);
        GenerationOptions o = new GenerationOptions(opts.maxNewTokens(), opts.temperature(), opts.topK(), opts.topP(),
                stop, opts.useKvCache());
        int room = promptRoom(o.maxNewTokens());
        int[][] encoded = new int[prompts.size()][];
        int[] cropped = new int[prompts.size()];
        for (int i = 0; i < prompts.size(); i++) {
            int[] full = encode(prompts.get(i), chat);
            cropped[i] = Math.max(0, full.length - room);
            encoded[i] = Arrays.copyOfRange(full, cropped[i], full.length);
        }
        // Rows are (prompt, sample) pairs; equal lengths share a batch, as generateBatch needs.
        Map<Integer, List<int[]>> byLength = new TreeMap<>();
        for (int i = 0; i < prompts.size(); i++) {
            for (int s = 0; s < samples; s++) {
                byLength.computeIfAbsent(encoded[i].length, k -> new ArrayList<>()).add(new int[] {i, s});
            }
        }
        Reply[] replies = new Reply[prompts.size() * samples];
        long rowSeed = seed;
        long t0 = System.nanoTime();
        for (List<int[]> group : byLength.values()) {
            for (int from = 0; from < group.size(); from += MAX_BATCH) {
                List<int[]> chunk = group.subList(from, Math.min(group.size(), from + MAX_BATCH));
                int[][] batch = chunk.stream().map(row -> encoded[row[0]]).toArray(int[][]::new);
                int[][] out = model.generateBatch(batch, o, rowSeed);
                for (int r = 0; r < chunk.size(); r++) {
                    int p = chunk.get(r)[0];
                    int s = chunk.get(r)[1];
                    int len = batch[r].length;
                    int generated = out[r].length - len;
                    boolean stopped = generated > 0 && out[r][out[r].length - 1] == stop;
                    replies[p * samples + s] = new Reply(p, s, ChatEncoder.reply(tokenizer, out[r], len), len,
                            cropped[p], generated, stopped);
                }
                rowSeed += chunk.size();
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        return new Generation(List.of(replies), seconds);
    }

    /** The whole prompt, before cropping: a chat turn, or raw text after the document separator. */
    private int[] encode(String prompt, boolean chat) {
        if (chat) {
            return ChatEncoder.prompt(tokenizer, prompt, Integer.MAX_VALUE);
        }
        if (tokenizer instanceof forge.tokenizer.PretrainedTokenizer p) {
            return p.encodeWithPostProcessor(prompt); // what transformers' generate is given for the same text
        }
        int[] text = tokenizer.encode(prompt);
        int[] ids = new int[text.length + 1];
        ids[0] = tokenizer.id(SpecialToken.END_OF_TEXT);
        System.arraycopy(text, 0, ids, 1, text.length);
        return ids;
    }

    @Override
    public void close() {
        model.close();
        manager.close();
    }
}
