package forge.model;

import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class GptConfigTest {

    private static String error(Runnable r) {
        return assertThrows(BadInputException.class, r::run).getMessage();
    }

    @Test
    void validationNamesTheField() {
        assertEquals("model.vocab_size: must be > 0, got 0", error(() -> new GptConfig(0, 8, 1, 1, 8, 0, true)));
        assertEquals("model.block_size: must be > 0, got -1", error(() -> new GptConfig(5, -1, 1, 1, 8, 0, true)));
        assertEquals("model.n_layer: must be > 0, got 0", error(() -> new GptConfig(5, 8, 0, 1, 8, 0, true)));
        assertEquals("model.n_head: must be > 0, got 0", error(() -> new GptConfig(5, 8, 1, 0, 8, 0, true)));
        assertEquals("model.n_embd: must be > 0, got 0", error(() -> new GptConfig(5, 8, 1, 1, 0, 0, true)));
        assertEquals("model.n_embd: 100 is not divisible by model.n_head (3)",
                error(() -> new GptConfig(5, 8, 1, 3, 100, 0, true)));
        assertEquals("model.dropout: must be in [0, 1), got 1.0", error(() -> new GptConfig(5, 8, 1, 1, 8, 1, true)));
        assertEquals("model.dropout: must be in [0, 1), got -0.1",
                error(() -> new GptConfig(5, 8, 1, 1, 8, -0.1, true)));
        assertEquals("model.dropout: must be in [0, 1), got NaN",
                error(() -> new GptConfig(5, 8, 1, 1, 8, Double.NaN, true)));
    }

    @Test
    void parameterCountMatchesTheParameterShapes() {
        for (boolean bias : new boolean[] {true, false}) {
            GptConfig c = new GptConfig(65, 64, 4, 4, 128, 0.1, bias);
            long sum = Gpt.parameterShapes(c).values().stream()
                    .mapToLong(s -> java.util.Arrays.stream(s).reduce(1, (a, b) -> a * b)).sum();
            assertEquals(sum, c.parameterCount());
        }
        // GPT-2 small: 124,439,808 parameters in HF's count (wte + wpe + 12 blocks + ln_f).
        assertEquals(124_439_808L, new GptConfig(50257, 1024, 12, 12, 768, 0, true).parameterCount());
    }

    @Test
    void huggingFaceConfigDescribesGpt2() {
        Map<String, Object> hf = new GptConfig(65, 64, 4, 4, 128, 0.2, true).toHuggingFaceConfig();
        assertEquals("gpt2", hf.get("model_type"));
        assertEquals(List.of("GPT2LMHeadModel"), hf.get("architectures"));
        assertEquals(65, hf.get("vocab_size"));
        assertEquals(64, hf.get("n_positions"));
        assertEquals(64, hf.get("n_ctx"));
        assertEquals(128, hf.get("n_embd"));
        assertEquals(4, hf.get("n_layer"));
        assertEquals(4, hf.get("n_head"));
        assertEquals("gelu_new", hf.get("activation_function"));
        assertEquals(0.2, hf.get("resid_pdrop"));
        assertEquals(0.2, hf.get("embd_pdrop"));
        assertEquals(0.2, hf.get("attn_pdrop"));
        assertEquals(1e-5, hf.get("layer_norm_epsilon"));
        assertEquals(true, hf.get("tie_word_embeddings"));
    }
}
