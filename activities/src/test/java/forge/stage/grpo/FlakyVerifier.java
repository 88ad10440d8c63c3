package forge.stage.grpo;

import forge.rewards.Verifier;
import forge.rollout.Prompt;

/** A custom verifier found by class name that fails on every reply of odd length: each failure must cost one reply. */
public final class FlakyVerifier implements Verifier {
    @Override
    public double score(Prompt prompt, String completion, String reference) {
        if (completion.length() % 2 == 1) {
            throw new IllegalStateException("cannot parse \"" + completion + "\"");
        }
        return completion.contains(reference) ? 1 : 0;
    }
}
