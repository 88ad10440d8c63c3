package forge.rollout;

import forge.chat.ChatEncoder;
import forge.chat.Conversation;
import forge.chat.TruncationPolicy;
import forge.chat.Turn;
import forge.config.ConfigNode;
import forge.data.SourceSpec;
import forge.data.UriOpener;
import forge.errors.BadInputException;
import forge.stage.sft.TrainValSplit;
import forge.tokenizer.Tokenizer;
import forge.train.ConfigSections;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * An RL stage's prompts, each with its ids under the chat template: training and held-out, too-long ones dropped
 * (counted) or refused by name. Read from the stage's {@code data} section ({@link Data}).
 */
public record RolloutPrompts(List<EncodedPrompt> train, List<EncodedPrompt> validation, int skipped) {
    private static final Logger log = LoggerFactory.getLogger(RolloutPrompts.class);

    /**
     * The {@code data} section of an RL stage.
     *
     * @param validation held-out prompt sources; empty to hold out {@code valFraction} of the training prompts
     * @param tooLong    what to do with a prompt that leaves less than max_new_tokens of context: skip or fail
     *                   (truncating a question changes it, so that is not offered)
     */
    public record Data(List<SourceSpec> sources, List<SourceSpec> validation, double valFraction,
                       TruncationPolicy tooLong) {
        public static Data parse(ConfigNode root) {
            ConfigNode d = root.child("data");
            List<ConfigNode> sourceNodes = d.list("sources");
            List<ConfigNode> validationNodes = d.has("validation") ? d.list("validation") : List.of();
            double valFraction = d.number("val_fraction", 0.05);
            TruncationPolicy tooLong = TruncationPolicy.parse(d.text("too_long", "skip"), "data.too_long");
            d.finish();
            List<SourceSpec> sources = ConfigSections.sources(sourceNodes);
            List<SourceSpec> validation = validationNodes.isEmpty() ? List.of()
                    : ConfigSections.sources(validationNodes);
            if (validation.isEmpty() && (valFraction <= 0 || valFraction >= 1)) {
                throw BadInputException.field("data.val_fraction", "must be in (0, 1) when data.validation is not "
                        + "given, got " + valFraction);
            }
            if (tooLong == TruncationPolicy.TRUNCATE_PROMPT_LEFT) {
                throw BadInputException.field("data.too_long", "must be skip or fail: a question cut short is a "
                        + "different question");
            }
            return new Data(sources, validation, valFraction, tooLong);
        }

        /** The training sources' paths: where a stage looks for the demo world behind its data. */
        public List<String> paths() {
            List<String> out = new ArrayList<>();
            sources.forEach(s -> out.add(s.path()));
            return out;
        }
    }

    /**
     * @param maxNewTokens the rollout's, which a prompt must leave room for in the policy's context
     * @param required     fields every prompt row must have (for verifiers), with why; see {@link PromptDocuments}
     * @param stage        the stage's name, for the log and errors
     */
    public static RolloutPrompts read(Data data, Tokenizer tokenizer, int blockSize, int maxNewTokens, long seed,
                                      Map<String, String> required, UriOpener remote, String stage) {
        int room = blockSize - maxNewTokens;
        if (room < 2) {
            throw BadInputException.field("rollout.max_new_tokens", maxNewTokens + " leaves no room for a prompt in "
                    + "the policy's block_size of " + blockSize);
        }
        List<EncodedPrompt> t = new ArrayList<>();
        List<EncodedPrompt> v = new ArrayList<>();
        int[] skipped = {0};
        Encoder enc = new Encoder(tokenizer, room, maxNewTokens, data.tooLong(), skipped);
        for (int i = 0; i < data.sources().size(); i++) {
            String where = "data.sources[" + i + "]";
            List<Prompt> read = PromptDocuments.read(data.sources().get(i), where, remote, required);
            if (data.validation().isEmpty()) {
                // TrainValSplit's rule, so prompts split as deterministically as SFT examples do.
                Map<Conversation, Prompt> byConversation = new IdentityHashMap<>();
                List<Conversation> conversations = new ArrayList<>(read.size());
                for (Prompt p : read) {
                    Conversation c = asConversation(p);
                    byConversation.put(c, p);
                    conversations.add(c);
                }
                TrainValSplit split = TrainValSplit.of(conversations, data.valFraction(), seed);
                t.addAll(enc.encode(split.train().stream().map(byConversation::get).toList(), where));
                v.addAll(enc.encode(split.validation().stream().map(byConversation::get).toList(), where));
            } else {
                t.addAll(enc.encode(read, where));
            }
        }
        for (int i = 0; i < data.validation().size(); i++) {
            String where = "data.validation[" + i + "]";
            v.addAll(enc.encode(PromptDocuments.read(data.validation().get(i), where, remote, required), where));
        }
        if (skipped[0] > 0) {
            log.warn("{}: {} prompts leave less than rollout.max_new_tokens = {} of context and were skipped",
                    stage, skipped[0], maxNewTokens);
        }
        if (t.isEmpty() || v.isEmpty()) {
            throw BadInputException.field("data.sources", "left " + t.size() + " training and " + v.size()
                    + " held-out prompts that fit the context with rollout.max_new_tokens = " + maxNewTokens
                    + "; " + stage + " needs both");
        }
        return new RolloutPrompts(t, v, skipped[0]);
    }

    /** Every prompt's text and fields, training then held-out: what a stage cache key hashes. */
    public List<List<String>> texts() {
        List<List<String>> out = new ArrayList<>();
        for (List<EncodedPrompt> list : List.of(train, validation)) {
            List<String> texts = new ArrayList<>();
            list.forEach(p -> texts.add(p.prompt().toString()));
            out.add(texts);
        }
        return out;
    }

    private record Encoder(Tokenizer tokenizer, int room, int maxNewTokens, TruncationPolicy tooLong, int[] skipped) {
        /** @param where the config field the prompts came from, named when one is refused */
        List<EncodedPrompt> encode(List<Prompt> prompts, String where) {
            List<EncodedPrompt> out = new ArrayList<>(prompts.size());
            for (Prompt p : prompts) {
                int[] ids = ChatEncoder.prompt(tokenizer, p.context(), Integer.MAX_VALUE);
                if (ids.length > room) {
                    if (tooLong == TruncationPolicy.FAIL) {
                        throw BadInputException.field(where, "prompt \"" + abbreviate(p.lastUserTurn()) + "\" has "
                                + ids.length + " tokens; with rollout.max_new_tokens = " + maxNewTokens + " at most "
                                + room + " fit the context (set data.too_long: skip to drop such prompts)");
                    }
                    skipped[0]++;
                    continue;
                }
                out.add(new EncodedPrompt(p, ids));
            }
            return out;
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }

    /** A prompt dressed as a conversation (with an empty reply) only to split it by TrainValSplit's rule. */
    private static Conversation asConversation(Prompt p) {
        List<Turn> turns = new ArrayList<>(p.context());
        turns.add(Turn.assistant(""));
        return new Conversation(turns);
    }
}
