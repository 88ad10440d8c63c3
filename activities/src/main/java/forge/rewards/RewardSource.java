package forge.rewards;

import java.util.List;

/** Where a reward comes from: a verifier over a data field, or a trained reward model. Weighted in {@link Rewards}. */
public interface RewardSource {
    /** Unique within a stage: the key of its figures in logs, metrics and the summary. */
    String name();

    double weight();

    /** One reward per completion, in order; failures on single completions are counted in {@code errors}. */
    double[] score(List<Completion> completions, ErrorCount errors);

    /** Completions a source could not score, which got its defined reward instead. */
    final class ErrorCount {
        private long count;

        public void add() {
            count++;
        }

        public long count() {
            return count;
        }
    }
}
