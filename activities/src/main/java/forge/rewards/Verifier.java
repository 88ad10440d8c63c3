package forge.rewards;

import forge.rollout.Prompt;

/**
 * Checks one completion and says what it earns: the pluggable reward of a {@code grpo} stage. Implement it with a
 * public no-argument constructor and name the class in the spec ({@code rewards: [{type: custom, class:
 * com.example.MyChecker, field: answer}]}); the jar must be on the worker's classpath. One instance serves a whole
 * stage, from one thread.
 *
 * <p>A verifier may throw: that completion then gets the source's {@code on_error} reward, the error is counted
 * ({@code rewardErrors}) and logged, and training goes on. A non-finite result counts as an error too.
 */
public interface Verifier {
    /**
     * @param prompt     the conversation the policy answered and its data row's fields
     * @param completion the policy's reply, decoded, without its closing {@code <|end|>}
     * @param reference  the row's field the source names (e.g. {@code answer}), or null when it names none
     * @return the completion's reward
     */
    double score(Prompt prompt, String completion, String reference);
}
