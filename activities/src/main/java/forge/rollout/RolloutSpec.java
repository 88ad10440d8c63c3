package forge.rollout;

import forge.config.ConfigNode;
import forge.errors.BadInputException;
import forge.model.GenerationOptions;

/**
 * How an RL stage samples its rollouts (the {@code rollout} section), with the KV cache, stopping at {@code <|end|>}.
 * The stage's ratios and KL are computed from the policy's temperature-scaled distribution over the whole
 * vocabulary, which is what it samples from only without top-k or nucleus truncation; those two keys therefore
 * accept only their "off" values, and any other is refused by name rather than silently giving wrong log-probs.
 */
public record RolloutSpec(int maxNewTokens, double temperature, int topK, double topP) {
    public static RolloutSpec parse(ConfigNode root) {
        ConfigNode ro = root.child("rollout");
        RolloutSpec r = new RolloutSpec(ro.integer("max_new_tokens", 32), ro.number("temperature", 1.0),
                ro.integer("top_k", 0), ro.number("top_p", 1.0));
        ro.finish();
        if (r.maxNewTokens() < 1) {
            throw BadInputException.field("rollout.max_new_tokens", "must be >= 1, got " + r.maxNewTokens());
        }
        if (!(r.temperature() > 0) || Double.isInfinite(r.temperature())) {
            throw BadInputException.field("rollout.temperature", "must be > 0 (the stage needs the policy's "
                    + "probabilities of what it sampled), got " + r.temperature());
        }
        if (r.topK() != 0) {
            throw BadInputException.field("rollout.top_k", "must be 0 (off), got " + r.topK() + ": the importance "
                    + "ratios and the KL use the policy's full distribution, and top-k sampling draws from a truncated "
                    + "one, which would make both wrong; lower rollout.temperature to sample more greedily instead");
        }
        if (r.topP() != 1.0) {
            throw BadInputException.field("rollout.top_p", "must be 1.0 (off), got " + r.topP() + ": the importance "
                    + "ratios and the KL use the policy's full distribution, and nucleus sampling draws from a "
                    + "truncated one, which would make both wrong; lower rollout.temperature instead");
        }
        return r;
    }

    public GenerationOptions options(int stopToken) {
        return new GenerationOptions(maxNewTokens, temperature, topK, topP, stopToken, true);
    }
}
