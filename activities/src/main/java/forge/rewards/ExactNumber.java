package forge.rewards;

import forge.rollout.Prompt;

/** 1 when the completion's final number equals the reference's ({@link FinalAnswer}), else 0: GSM8K's accuracy. */
public final class ExactNumber implements Verifier {
    @Override
    public double score(Prompt prompt, String completion, String reference) {
        return FinalAnswer.sameNumber(completion, reference) ? 1 : 0;
    }
}
