package forge.rewards;

import forge.train.TrainingLoop;

import java.util.List;

/**
 * A trained reward model as a reward source: its normalised score of the whole sequence, clipped to ±clip. A score
 * that is not finite is the model's fault, not one completion's: it stops the stage like a non-finite loss.
 */
final class RewardModelSource implements RewardSource {
    private final String name;
    private final double weight;
    private final RewardModel model;
    private final double clip;

    RewardModelSource(String name, double weight, RewardModel model, double clip) {
        this.name = name;
        this.weight = weight;
        this.model = model;
        this.clip = clip;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public double weight() {
        return weight;
    }

    @Override
    public double[] score(List<Completion> completions, ErrorCount errors) {
        double[] s = model.normalised(completions.stream().map(Completion::sequence).toList());
        for (int i = 0; i < s.length; i++) {
            if (!Double.isFinite(s[i])) {
                throw new TrainingLoop.NonFinite("reward source " + name + ": the reward model scored the reply \""
                        + completions.get(i).reply() + "\" " + s[i]);
            }
            s[i] = Math.max(-clip, Math.min(clip, s[i]));
        }
        return s;
    }
}
