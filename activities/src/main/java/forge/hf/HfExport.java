package forge.hf;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointFile;
import forge.model.Precision;
import forge.tokenizer.HfTokenizerConfig;
import forge.tokenizer.PretrainedTokenizer;
import forge.tokenizer.SpecialToken;
import forge.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes a stage's {@code final/} a complete Hugging Face checkpoint: config.json with the tokenizer's special-token
 * ids, generation_config.json that stops where the pipeline's own generation stops, and tokenizer_config.json with
 * the chat template that renders the prompts the model was trained on ({@code AutoTokenizer.apply_chat_template}).
 * A pretrained checkpoint's tokenizer_config.json is kept as it came, with its template; Forge's own tokenizers get
 * {@link #FORGE_CHAT_TEMPLATE}, the Jinja form of {@link forge.chat.ChatEncoder}'s layout.
 */
public final class HfExport {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Forge's chat layout, {@code <|user|>u<|end|><|assistant|>a<|end|>}, for apply_chat_template. */
    public static final String FORGE_CHAT_TEMPLATE = "{% for message in messages %}"
            + "{% if message['role'] == 'system' %}<|system|>"
            + "{% elif message['role'] == 'user' %}<|user|>"
            + "{% elif message['role'] == 'assistant' %}<|assistant|>"
            + "{% else %}{{ raise_exception('Forge models know the roles system, user and assistant') }}{% endif %}"
            + "{{ message['content'] }}<|end|>{% endfor %}"
            + "{% if add_generation_prompt %}<|assistant|>{% endif %}";

    private HfExport() {
    }

    /**
     * The files with config.json's token ids and torch_dtype (the dtype the weights were written in, see
     * {@link ExportDtype}) set and the generation and tokenizer configs added (replacing any of the same name).
     */
    public static List<CheckpointFile> complete(List<CheckpointFile> files, Tokenizer tok, int blockSize,
                                                Precision weightsDtype) {
        List<CheckpointFile> out = new ArrayList<>();
        for (CheckpointFile f : files) {
            switch (f.name()) {
                case HfCheckpoint.CONFIG -> out.add(new CheckpointFile(f.name(),
                        config(f.content(), tok, weightsDtype)));
                case HfCheckpoint.GENERATION_CONFIG, HfCheckpoint.TOKENIZER_CONFIG -> {
                }
                default -> out.add(f);
            }
        }
        out.add(new CheckpointFile(HfCheckpoint.GENERATION_CONFIG, bytes(generationConfig(tok))));
        out.add(new CheckpointFile(HfCheckpoint.TOKENIZER_CONFIG, tokenizerConfig(tok, blockSize)));
        return out;
    }

    private static byte[] config(byte[] configJson, Tokenizer tok, Precision weightsDtype) {
        ObjectNode c;
        try {
            c = (ObjectNode) JSON.readTree(configJson);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Ids ids = Ids.of(tok);
        c.put("bos_token_id", ids.bos);
        c.set("eos_token_id", eosNode(ids));
        c.put("pad_token_id", ids.pad);
        c.put("torch_dtype", weightsDtype.torchDtype());
        return bytes(c);
    }

    private static ObjectNode generationConfig(Tokenizer tok) {
        Ids ids = Ids.of(tok);
        ObjectNode g = JSON.createObjectNode();
        g.put("bos_token_id", ids.bos);
        g.set("eos_token_id", eosNode(ids));
        g.put("pad_token_id", ids.pad);
        g.put("do_sample", false);
        return g;
    }

    private static com.fasterxml.jackson.databind.JsonNode eosNode(Ids ids) {
        if (ids.eos.length == 1) {
            return JSON.getNodeFactory().numberNode(ids.eos[0]);
        }
        var a = JSON.createArrayNode();
        for (int e : ids.eos) {
            a.add(e);
        }
        return a;
    }

    private static byte[] tokenizerConfig(Tokenizer tok, int blockSize) {
        if (tok instanceof PretrainedTokenizer p) {
            return p.config().toJson(blockSize).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
        ObjectNode t = JSON.createObjectNode();
        t.put("tokenizer_class", "PreTrainedTokenizerFast");
        t.put("bos_token", SpecialToken.END_OF_TEXT.text());
        t.put("eos_token", SpecialToken.END_OF_TURN.text());
        t.put("pad_token", SpecialToken.PAD.text());
        t.put("unk_token", SpecialToken.UNKNOWN.text());
        t.put("model_max_length", blockSize);
        t.put("clean_up_tokenization_spaces", false);
        t.put("chat_template", FORGE_CHAT_TEMPLATE);
        return bytes(t);
    }

    /**
     * Token ids for the configs. Forge's tokenizers: documents end with &lt;|endoftext|&gt;, replies with
     * &lt;|end|&gt;, and the pipeline's generation stops at either, so transformers' must too. A pretrained one:
     * its own bos/pad from tokenizer_config.json (pad falling back to eos, as in transformers), and as eos the chat
     * template's end-of-turn token, where the pipeline stops, then the tokenizer's eos when that differs (Qwen2.5
     * base: {@code <|im_end|>} and {@code <|endoftext|>}).
     */
    private record Ids(int bos, int[] eos, int pad) {
        static Ids of(Tokenizer tok) {
            if (tok instanceof PretrainedTokenizer p) {
                HfTokenizerConfig c = p.config();
                int eos = p.tokenId(c.eosToken());
                int bos = p.tokenId(c.bosToken());
                int pad = c.padToken() != null ? p.tokenId(c.padToken()) : eos;
                int eot = c.chatTemplate() != null ? forge.chat.ChatEncoder.endOfTurn(p) : eos;
                int[] stops = eot == eos || eos < 0 ? new int[] {eot} : new int[] {eot, eos};
                return new Ids(bos >= 0 ? bos : eos, stops, pad);
            }
            return new Ids(tok.id(SpecialToken.END_OF_TEXT),
                    new int[] {tok.id(SpecialToken.END_OF_TURN), tok.id(SpecialToken.END_OF_TEXT)},
                    tok.id(SpecialToken.PAD));
        }
    }

    private static byte[] bytes(Object o) {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
