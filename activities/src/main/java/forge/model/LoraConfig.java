package forge.model;

import forge.errors.BadInputException;

import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * Low-rank adapters (LoRA, Hu et al. 2021) for {@link Gpt#addLora}: each targeted linear y = x·W + b becomes
 * y = x·W + b + scale·(x·A)·B with A (in, rank), B (rank, out) and scale = alpha / rank.
 *
 * <p>targets name linears of every block: "c_attn" (the fused q, k, v projection), "attn.c_proj", "c_fc",
 * "mlp.c_proj". {@link #of} adapts c_attn only, as many LoRA recipes (and PEFT's GPT-2 default) do.
 */
public record LoraConfig(int rank, double alpha, List<String> targets) {
    /** Target → the module path inside a block, in the order adapters are created. */
    private static final Map<String, String> MODULES = Map.of(
            "c_attn", "attn.c_attn",
            "attn.c_proj", "attn.c_proj",
            "c_fc", "mlp.c_fc",
            "mlp.c_proj", "mlp.c_proj");
    /** Every allowed target, in block order. */
    public static final List<String> ALLOWED_TARGETS = List.of("c_attn", "attn.c_proj", "c_fc", "mlp.c_proj");

    public LoraConfig {
        if (rank <= 0) {
            throw BadInputException.field("lora.rank", "must be > 0, got " + rank);
        }
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw BadInputException.field("lora.alpha", "must be a finite number > 0, got " + alpha);
        }
        if (targets == null || targets.isEmpty()) {
            throw BadInputException.field("lora.targets", "must name at least one of " + ALLOWED_TARGETS);
        }
        HashSet<String> seen = new HashSet<>();
        for (String t : targets) {
            if (t == null || !MODULES.containsKey(t)) {
                throw BadInputException.field("lora.targets", "unknown target " + (t == null ? "null" : "\"" + t + "\"")
                        + "; allowed: " + ALLOWED_TARGETS);
            }
            if (!seen.add(t)) {
                throw BadInputException.field("lora.targets", "lists \"" + t + "\" twice");
            }
        }
        // Canonical (block) order, so the same set of targets always gives the same tensors in the same order.
        targets = ALLOWED_TARGETS.stream().filter(seen::contains).toList();
    }

    /** Adapters on c_attn only. */
    public static LoraConfig of(int rank, double alpha) {
        return new LoraConfig(rank, alpha, List.of("c_attn"));
    }

    /** The factor on the adapter's output: alpha / rank. */
    public double scale() {
        return alpha / rank;
    }

    /** Module paths inside a block ("attn.c_attn", ...), in {@link #targets()} order. */
    public List<String> modules() {
        return targets.stream().map(MODULES::get).toList();
    }

    /** The number of adapter weights this config adds to a model of shape cfg. */
    public long parameterCount(GptConfig cfg) {
        long c = cfg.nEmbd();
        long perLayer = 0;
        for (String t : targets) {
            perLayer += switch (t) {
                case "c_attn" -> rank * (c + 3 * c);
                case "attn.c_proj" -> rank * (c + c);
                case "c_fc", "mlp.c_proj" -> rank * (c + 4 * c);
                default -> throw new IllegalStateException(t);
            };
        }
        return perLayer * cfg.nLayer();
    }
}
