package forge.chat;

import forge.errors.BadInputException;
import forge.tokenizer.HfTokenizerConfig;
import forge.tokenizer.PretrainedTokenizer;
import forge.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Conversations in a pretrained checkpoint's own chat template, as transformers' {@code apply_chat_template}
 * renders them: the template's text is tokenized with its special tokens recognised. Loss goes on what the template
 * adds for each assistant turn after its generation prompt (the reply and the end-of-turn marker), so training sees
 * exactly the prompt generation will be given.
 */
final class TemplateChat {
    /** Templates by source: prompts are built per rollout, parsing is not (a process sees a handful). */
    private static final Map<String, JinjaTemplate> PARSED = new java.util.concurrent.ConcurrentHashMap<>();

    private final PretrainedTokenizer tok;
    private final JinjaTemplate template;
    private final Map<String, Object> specials = new HashMap<>();

    private TemplateChat(PretrainedTokenizer tok, String source) {
        this.tok = tok;
        this.template = PARSED.computeIfAbsent(source, JinjaTemplate::parse);
        HfTokenizerConfig c = tok.config();
        specials.put("bos_token", c.bosToken() == null ? "" : c.bosToken());
        specials.put("eos_token", c.eosToken() == null ? "" : c.eosToken());
        specials.put("pad_token", c.padToken());
        specials.put("unk_token", c.unkToken());
        specials.put("tools", null);
        specials.put("documents", null);
    }

    /** The checkpoint's template, or null when the tokenizer is Forge's own (its layout is {@link ChatEncoder}'s). */
    static TemplateChat of(Tokenizer tok) {
        if (tok instanceof PretrainedTokenizer p) {
            String source = p.config().chatTemplate();
            if (source == null) {
                throw new BadInputException("tokenizer_config.json: the checkpoint has no chat_template (and no "
                        + "chat_template.jinja); a base model needs one to be fine-tuned on conversations");
            }
            return new TemplateChat(p, source);
        }
        return null;
    }

    String render(List<Turn> turns, boolean addGenerationPrompt) {
        List<Object> messages = new ArrayList<>();
        for (Turn t : turns) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("role", t.role());
            m.put("content", t.content());
            messages.add(m);
        }
        Map<String, Object> vars = new HashMap<>(specials);
        vars.put("messages", messages);
        vars.put("add_generation_prompt", addGenerationPrompt);
        return template.render(vars);
    }

    /**
     * The token the template closes an assistant turn with: the first special token it renders after a reply
     * (ChatML's {@code <|im_end|>}, Llama 3's {@code <|eot_id|>}, Llama 2's {@code </s>}). That is where a reply
     * ends, which is not always eos: Qwen2.5 base models say eos is {@code <|endoftext|>}. Falls back to eos when the
     * template renders no special token there (or refuses the probe conversation).
     */
    int endOfTurn() {
        String marker = "\u0001forge-reply\u0001";
        try {
            String text = render(List.of(Turn.user("hi"), Turn.assistant(marker)), false);
            int at = text.indexOf(marker);
            if (at >= 0) {
                for (int id : tok.encodeWithSpecials(text.substring(at + marker.length()), null)) {
                    if (tok.isSpecial(id)) {
                        return id;
                    }
                }
            }
        } catch (RuntimeException e) {
            // A template that needs another shape of conversation (raise_exception): eos is the best we know.
        }
        return tok.id(forge.tokenizer.SpecialToken.END_OF_TURN);
    }

    int[] prompt(List<Turn> context) {
        return tok.encodeWithSpecials(render(context, true), null);
    }

    EncodedExample encode(Conversation c) {
        List<Turn> turns = c.turns().subList(0, c.lastAssistant() + 1);
        String full = render(turns, false);
        List<int[]> pieces = new ArrayList<>();
        List<Boolean> loss = new ArrayList<>();
        int at = 0;
        for (int i = 0; i < turns.size(); i++) {
            if (!turns.get(i).isAssistant()) {
                continue;
            }
            String before = render(turns.subList(0, i), true);
            String through = render(turns.subList(0, i + 1), false);
            if (!through.startsWith(before) || !full.startsWith(through) || before.length() < at) {
                throw new BadInputException("chat_template: rendering a conversation turn by turn does not give "
                        + "its prefixes (turn " + (i + 1) + "), so the assistant's tokens cannot be told apart");
            }
            pieces.add(tok.encodeWithSpecials(full.substring(at, before.length()), null));
            loss.add(false);
            pieces.add(tok.encodeWithSpecials(full.substring(before.length(), through.length()), null));
            loss.add(true);
            at = through.length();
        }
        int n = pieces.stream().mapToInt(p -> p.length).sum();
        int[] ids = new int[n];
        float[] mask = new float[n];
        int k = 0;
        for (int p = 0; p < pieces.size(); p++) {
            for (int id : pieces.get(p)) {
                mask[k] = loss.get(p) ? 1f : 0f;
                ids[k++] = id;
            }
        }
        return new EncodedExample(ids, mask);
    }
}
