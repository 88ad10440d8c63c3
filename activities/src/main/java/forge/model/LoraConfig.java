package forge.model;

import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

/**
 * Low-rank adapters (LoRA, Hu et al. 2021) for {@link Gpt#addLora}: each targeted linear y = x·W + b becomes
 * y = x·W + b + scale·(x·A)·B with A (in, rank), B (rank, out) and scale = alpha / rank.
 *
 * <p>targets name linears of every block by PEFT's module names: GPT-2's "c_attn" (the fused q, k, v projection),
 * "attn.c_proj", "c_fc", "mlp.c_proj"; the Llama family's "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
 * "up_proj", "down_proj". null means the architecture's default ({@link Architecture#defaultLoraTargets}: c_attn for
 * GPT-2, as PEFT; q_proj and v_proj for the Llama family, as PEFT), resolved by {@link #forArchitecture}.
 */
public record LoraConfig(int rank, double alpha, List<String> targets) {
    /** Every target any architecture has, in the order adapters are created. */
    public static final List<String> ALLOWED_TARGETS = List.of("c_attn", "attn.c_proj", "c_fc", "mlp.c_proj",
            "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    public LoraConfig {
        if (rank <= 0) {
            throw BadInputException.field("lora.rank", "must be > 0, got " + rank);
        }
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw BadInputException.field("lora.alpha", "must be a finite number > 0, got " + alpha);
        }
        if (targets != null) {
            if (targets.isEmpty()) {
                throw BadInputException.field("lora.targets", "must name at least one of " + ALLOWED_TARGETS
                        + " (or be left out for the architecture's default)");
            }
            HashSet<String> seen = new HashSet<>();
            for (String t : targets) {
                if (t == null || !ALLOWED_TARGETS.contains(t)) {
                    throw BadInputException.field("lora.targets", "unknown target "
                            + (t == null ? "null" : "\"" + t + "\"") + "; allowed: " + ALLOWED_TARGETS);
                }
                if (!seen.add(t)) {
                    throw BadInputException.field("lora.targets", "lists \"" + t + "\" twice");
                }
            }
            // Canonical (block) order, so the same set of targets always gives the same tensors in the same order.
            targets = ALLOWED_TARGETS.stream().filter(seen::contains).toList();
        }
    }

    /** Adapters on c_attn only. */
    public static LoraConfig of(int rank, double alpha) {
        return new LoraConfig(rank, alpha, List.of("c_attn"));
    }

    /** The factor on the adapter's output: alpha / rank. */
    public double scale() {
        return alpha / rank;
    }

    /** This config with its targets resolved for a, each checked to be one of a's linears. */
    public LoraConfig forArchitecture(Architecture a) {
        List<String> chosen = targets != null ? targets : a.defaultLoraTargets();
        List<String> bad = new ArrayList<>();
        for (String t : chosen) {
            if (!a.loraTargets().containsKey(t)) {
                bad.add(t);
            }
        }
        if (!bad.isEmpty()) {
            throw BadInputException.field("lora.targets", bad + " are not linears of a " + a.name()
                    + " block; it has " + List.copyOf(a.loraTargets().keySet()));
        }
        return new LoraConfig(rank, alpha, chosen);
    }

    /** Module paths inside a block ("attn.c_attn", "self_attn.q_proj", ...), in {@link #targets()} order. */
    public List<String> modules(Architecture a) {
        return forArchitecture(a).targets().stream().map(t -> a.loraTargets().get(t)).toList();
    }

    /** The number of adapter weights this config adds to a model of shape cfg. */
    public long parameterCount(GptConfig cfg) {
        Architecture a = cfg.architecture();
        var shapes = a.parameterShapes(cfg);
        long perLayer = 0;
        for (String module : modules(a)) {
            long[] w = shapes.get(a.blockPrefix(0) + module + ".weight");
            perLayer += rank * (w[0] + w[1]);
        }
        return perLayer * cfg.nLayer();
    }
}
