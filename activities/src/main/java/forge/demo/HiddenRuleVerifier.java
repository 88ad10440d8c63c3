package forge.demo;

import forge.rewards.Verifier;
import forge.rollout.Prompt;

/**
 * The demo world's hidden rule as a verifier: right answer +1 (else −1), −0.05 per word beyond 8, +0.2 polite,
 * −0.3 rude, scored on the question the prompt asks. A prompt that is no question of the demo world throws.
 */
public final class HiddenRuleVerifier implements Verifier {
    @Override
    public double score(Prompt prompt, String completion, String reference) {
        Problem p = HiddenRule.problem(prompt.lastUserTurn());
        if (p == null) {
            throw new IllegalArgumentException("not a question of the demo world: \"" + prompt.lastUserTurn() + "\"");
        }
        return HiddenRule.score(p, completion);
    }
}
