package forge.rewards;

import forge.rollout.Prompt;

/** 1 when the completion's answer equals the reference once both are {@link FinalAnswer#normalised}, else 0. */
public final class ExactString implements Verifier {
    @Override
    public double score(Prompt prompt, String completion, String reference) {
        return FinalAnswer.normalised(completion).equals(FinalAnswer.normalised(reference)) ? 1 : 0;
    }
}
